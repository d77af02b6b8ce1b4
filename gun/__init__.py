"""Guided Upsampling Network (Mazzini, BMVC 2018) in PyTorch.

`gun.load_model(path)` rebuilds a model from a checkpoint; `gun.preset(name)` gives a paper
configuration; `gun.build_model(config)` builds it. Imports are lazy so that light modules
(gun.io, gun.render) do not pull in torch.

Layout (dependencies point down): commands -> experiments -> runtime -> io, render, metrics ->
data -> nn. See the README's module map.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "GUNConfig": "gun.nn.config",
    "PRESETS": "gun.nn.config",
    "preset": "gun.nn.config",
    "GUN": "gun.nn.model",
    "GUNOutput": "gun.nn.model",
    "build_model": "gun.nn.model",
    "guided_upsample": "gun.nn.gum",
    "guided_upsample_labels": "gun.nn.gum",
    "Grid": "gun.nn.geometry",
    "Segmenter": "gun.runtime.segmenter",
    "prepare": "gun.runtime.frames",
    "load_model": "gun.nn.checkpoint",
    "save_checkpoint": "gun.nn.checkpoint",
    "CheckpointMeta": "gun.nn.checkpoint",
    "CheckpointError": "gun.nn.checkpoint",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gun' has no attribute {name!r}")
