"""Label tables of the datasets, torch-free: ignore value, class names, colours, raw-label lookups.

Used by the datasets (gun.data), the frame sources that carry ground truth (gun.io), the drawing
code (gun.render) and the metrics; each fact is defined here once.
"""

from __future__ import annotations

import numpy as np

IGNORE = 255  # label value of pixels without ground truth

# ---- CamVid (SegNet's 11-class version) --------------------------------------------------------
CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist")
# SegNet's CamVid colours
CAMVID_PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
           (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192))
CAMVID_VOID = 11


def camvid_lut() -> np.ndarray:
    lut = np.full(256, IGNORE, np.uint8)
    lut[: len(CAMVID_CLASSES)] = np.arange(len(CAMVID_CLASSES))
    return lut  # 11 (void) and anything else -> ignore


# ---- Cityscapes ----------------------------------------------------------------------------------
# (name, labelId, trainId, colour) from the official table (cityscapesscripts, helpers/labels.py)
CITYSCAPES_LABELS = (
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
_CITYSCAPES_TRAIN = sorted((t, name, colour) for name, _, t, colour in CITYSCAPES_LABELS if 0 <= t < 255)
CITYSCAPES_CLASSES = tuple(name for _, name, _ in _CITYSCAPES_TRAIN)
CITYSCAPES_PALETTE = tuple(colour for _, _, colour in _CITYSCAPES_TRAIN)

LABEL_ID_TO_TRAIN_ID = np.full(256, IGNORE, np.uint8)
for _name, label_id, train_id, _colour in CITYSCAPES_LABELS:
    if label_id >= 0 and train_id >= 0:
        LABEL_ID_TO_TRAIN_ID[label_id] = train_id


# ---- what weights trained on each dataset may be used for (written into their checkpoints) ----------
WEIGHTS_LICENCE = {
    "camvid": "Trained on CamVid (CC BY-NC 4.0): weights for research and personal use only.",
    "cityscapes": "Trained on Cityscapes: weights bound by the Cityscapes licence (non-commercial).",
}
