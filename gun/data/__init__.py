"""Datasets (Cityscapes, CamVid) and the paper's augmentations."""

from __future__ import annotations

from pathlib import Path

from gun.data.camvid import CamVid
from gun.data.cityscapes import Cityscapes
from gun.data.segdata import SegmentationDataset

DATASETS = {"cityscapes": Cityscapes, "camvid": CamVid}


def open_dataset(name: str, root: str | Path, split: str, **kwargs: object) -> SegmentationDataset:
    """The named dataset's split under root; fails at once with what was expected where."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return DATASETS[name](root, split, **kwargs)  # type: ignore[arg-type]
