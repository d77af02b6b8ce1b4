"""Guided Upsampling Network (Mazzini, BMVC 2018) in PyTorch.

`gun.load_model(path)` rebuilds a model from a checkpoint; `gun.preset(name)` gives a paper
configuration; `gun.build_model(config)` builds it. Imports are lazy so that light modules
(gun.video, gun.annotate) do not pull in torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "GUNConfig": "gun.config",
    "PRESETS": "gun.config",
    "preset": "gun.config",
    "GUN": "gun.model",
    "GUNOutput": "gun.model",
    "build_model": "gun.model",
    "guided_upsample": "gun.gum",
    "guided_upsample_labels": "gun.gum",
    "load_model": "gun.checkpoint",
    "save_checkpoint": "gun.checkpoint",
    "CheckpointMeta": "gun.checkpoint",
    "CheckpointError": "gun.checkpoint",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gun' has no attribute {name!r}")
