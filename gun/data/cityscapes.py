"""Cityscapes in its official layout, labelIds mapped to the 19 trainIds (ignore = 255).

leftImg8bit/{split}/{city}/{name}_leftImg8bit.png with gtFine/{split}/{city}/{name}_gtFine_labelIds.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gun.data.segdata import IGNORE, SegmentationDataset

# (name, labelId, trainId, colour) from the official table (cityscapesscripts, helpers/labels.py)
LABELS = (
    ("unlabeled", 0, 255, (0, 0, 0)), ("ego vehicle", 1, 255, (0, 0, 0)),
    ("rectification border", 2, 255, (0, 0, 0)), ("out of roi", 3, 255, (0, 0, 0)),
    ("static", 4, 255, (0, 0, 0)), ("dynamic", 5, 255, (111, 74, 0)), ("ground", 6, 255, (81, 0, 81)),
    ("road", 7, 0, (128, 64, 128)), ("sidewalk", 8, 1, (244, 35, 232)), ("parking", 9, 255, (250, 170, 160)),
    ("rail track", 10, 255, (230, 150, 140)), ("building", 11, 2, (70, 70, 70)), ("wall", 12, 3, (102, 102, 156)),
    ("fence", 13, 4, (190, 153, 153)), ("guard rail", 14, 255, (180, 165, 180)), ("bridge", 15, 255, (150, 100, 100)),
    ("tunnel", 16, 255, (150, 120, 90)), ("pole", 17, 5, (153, 153, 153)), ("polegroup", 18, 255, (153, 153, 153)),
    ("traffic light", 19, 6, (250, 170, 30)), ("traffic sign", 20, 7, (220, 220, 0)),
    ("vegetation", 21, 8, (107, 142, 35)), ("terrain", 22, 9, (152, 251, 152)), ("sky", 23, 10, (70, 130, 180)),
    ("person", 24, 11, (220, 20, 60)), ("rider", 25, 12, (255, 0, 0)), ("car", 26, 13, (0, 0, 142)),
    ("truck", 27, 14, (0, 0, 70)), ("bus", 28, 15, (0, 60, 100)), ("caravan", 29, 255, (0, 0, 90)),
    ("trailer", 30, 255, (0, 0, 110)), ("train", 31, 16, (0, 80, 100)), ("motorcycle", 32, 17, (0, 0, 230)),
    ("bicycle", 33, 18, (119, 11, 32)), ("license plate", -1, -1, (0, 0, 142)),
)
_TRAIN = sorted((t, name, colour) for name, _, t, colour in LABELS if 0 <= t < 255)
CLASS_NAMES = tuple(name for _, name, _ in _TRAIN)
PALETTE = tuple(colour for _, _, colour in _TRAIN)
LICENCE = "Cityscapes: see www.cityscapes-dataset.com licence (non-commercial research use)."

LABEL_ID_TO_TRAIN_ID = np.full(256, IGNORE, np.uint8)
for _, label_id, train_id, _ in LABELS:
    if label_id >= 0 and train_id >= 0:
        LABEL_ID_TO_TRAIN_ID[label_id] = train_id


class Cityscapes(SegmentationDataset):
    name = "cityscapes"
    class_names = CLASS_NAMES
    palette = PALETTE
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
