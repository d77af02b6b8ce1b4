"""CamVid in the SegNet layout: split NAME reads images from NAME/ and labels from NAMEannot/."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gun.data.segdata import IGNORE, SegmentationDataset

CLASS_NAMES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist")
# SegNet's CamVid colours
PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
           (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192))
VOID = 11
LICENCE = "CamVid (Brostow et al.; SegNet 11-class version) is CC BY-NC 4.0: research and personal use only."


def label_lut() -> np.ndarray:
    lut = np.full(256, IGNORE, np.uint8)
    lut[: len(CLASS_NAMES)] = np.arange(len(CLASS_NAMES))
    return lut  # 11 (void) and anything else -> ignore


class CamVid(SegmentationDataset):
    name = "camvid"
    class_names = CLASS_NAMES
    palette = PALETTE
    native_size = (360, 480)

    def __init__(self, root: str | Path, split: str, **kwargs: object) -> None:
        root = Path(root)
        images, labels = root / split, root / f"{split}annot"
        for d in (images, labels):
            if not d.is_dir():
                raise FileNotFoundError(f"CamVid split {split!r}: expected folder {d} (SegNet layout: {split}/ images, {split}annot/ labels)")
        pairs = []
        for img in sorted(images.glob("*.png")):
            lab = labels / img.name
            if not lab.is_file():
                raise FileNotFoundError(f"CamVid: label {lab} missing for image {img}")
            pairs.append((img, lab))
        if not pairs:
            raise FileNotFoundError(f"CamVid split {split!r}: no .png images in {images}")
        super().__init__(pairs, label_lut(), **kwargs)  # type: ignore[arg-type]
