"""Cityscapes in its official layout, labelIds mapped to the 19 trainIds (ignore = 255).

leftImg8bit/{split}/{city}/{name}_leftImg8bit.png with gtFine/{split}/{city}/{name}_gtFine_labelIds.png
"""

from __future__ import annotations

from pathlib import Path

from gun.data.labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, LABEL_ID_TO_TRAIN_ID
from gun.data.segdata import SegmentationDataset


class Cityscapes(SegmentationDataset):
    name = "cityscapes"
    class_names = CITYSCAPES_CLASSES
    palette = CITYSCAPES_PALETTE
    native_size = (1024, 2048)

    def __init__(self, root: str | Path, split: str, **kwargs: object) -> None:
        root = Path(root)
        images, labels = root / "leftImg8bit" / split, root / "gtFine" / split
        for d in (images, labels):
            if not d.is_dir():
                raise FileNotFoundError(f"Cityscapes split {split!r}: expected folder {d} (official layout: leftImg8bit/{split}/CITY/*_leftImg8bit.png, gtFine/{split}/CITY/*_gtFine_labelIds.png)")
        pairs = []
        for img in sorted(images.glob("*/*_leftImg8bit.png")):
            lab = labels / img.parent.name / img.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
            if not lab.is_file():
                raise FileNotFoundError(f"Cityscapes: label {lab} missing for image {img}")
            pairs.append((img, lab))
        if not pairs:
            raise FileNotFoundError(f"Cityscapes split {split!r}: no */*_leftImg8bit.png images in {images}")
        super().__init__(pairs, LABEL_ID_TO_TRAIN_ID, **kwargs)  # type: ignore[arg-type]
