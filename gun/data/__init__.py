"""Datasets (Cityscapes, CamVid) and the paper's augmentations.

The dataset classes (and torch, which they need) load on first use, so that the torch-free label
tables in gun.data.labels can be imported by the drawing and frame-source code alone.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gun.data.camvid import CamVid as CamVid
    from gun.data.cityscapes import Cityscapes as Cityscapes
    from gun.data.segdata import SegmentationDataset

_LAZY = {"CamVid": "gun.data.camvid", "Cityscapes": "gun.data.cityscapes", "SegmentationDataset": "gun.data.segdata"}
_NAMES = {"cityscapes": "Cityscapes", "camvid": "CamVid"}


def __getattr__(name: str) -> Any:
    if name == "DATASETS":  # {"cityscapes": Cityscapes, "camvid": CamVid}
        return {key: __getattr__(cls) for key, cls in _NAMES.items()}
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gun.data' has no attribute {name!r}")


def open_dataset(name: str, root: str | Path, split: str, **kwargs: object) -> SegmentationDataset:
    """The named dataset's split under root; fails at once with what was expected where."""
    if name not in _NAMES:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(_NAMES)}")
    return __getattr__(_NAMES[name])(root, split, **kwargs)
