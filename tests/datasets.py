"""Tiny datasets on disk in the real layouts, for the data, evaluation and trimap tests.

Every image is a grid of flat cells whose colour is a function of the cell's label, so a test can
read the label back from the pixels (alignment after augmentation, an oracle "model").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from gun.data.labels import CAMVID_PALETTE, CAMVID_VOID

CELL = 16
# Cityscapes labelIds used by the fixture: evaluated classes and some that map to ignore
CITYSCAPES_IDS = (0, 1, 4, 7, 8, 11, 17, 21, 23, 24, 26, 33)


def camvid_colour(label: int) -> tuple[int, int, int]:
    """RGB of a CamVid class in the fixture (SegNet's palette; void is black)."""
    return (0, 0, 0) if label == CAMVID_VOID else CAMVID_PALETTE[label]


def cityscapes_colour(label_id: int) -> tuple[int, int, int]:
    """A distinct RGB per labelId (the official palette repeats colours, so it cannot be used)."""
    return (label_id * 37 % 256, label_id * 91 % 256, (label_id * 53 + 40) % 256)


def cell_labels(rng: np.random.Generator, values: tuple[int, ...], size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 label map of CELL x CELL cells, each a random choice from values."""
    h, w = size
    cells = rng.choice(np.asarray(values, np.uint8), size=(-(-h // CELL), -(-w // CELL)))
    return np.kron(cells, np.ones((CELL, CELL), np.uint8))[:h, :w]


def paint(labels: np.ndarray, colour: Callable[[int], tuple[int, int, int]]) -> np.ndarray:
    """(H, W, 3) uint8 RGB image: each pixel coloured by colour(label)."""
    rgb = np.zeros((*labels.shape, 3), np.uint8)
    for v in np.unique(labels):
        rgb[labels == v] = colour(int(v))
    return rgb


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _write_label(path: Path, label: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), label)


def make_camvid(root: Path, splits: tuple[str, ...] = ("train", "val"), images: int = 3,
                size: tuple[int, int] = (64, 96), seed: int = 0) -> Path:
    """SegNet layout: {split}/NAME.png (RGB) and {split}annot/NAME.png (class index, 11 = void)."""
    rng = np.random.default_rng(seed)
    values = tuple(range(CAMVID_VOID + 1))  # the 11 classes and void
    for split in splits:
        for i in range(images):
            lab = cell_labels(rng, values, size)
            name = f"0001TP_{i:06d}.png"
            _write_rgb(root / split / name, paint(lab, camvid_colour))
            _write_label(root / f"{split}annot" / name, lab)
    return root


def make_cityscapes(root: Path, splits: tuple[str, ...] = ("train", "val"), cities: tuple[str, ...] = ("aachen", "bremen"),
                    per_city: int = 1, size: tuple[int, int] = (64, 128), seed: int = 0) -> Path:
    """Official layout: leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png and
    gtFine/{split}/{city}/..._gtFine_labelIds.png (raw labelIds)."""
    rng = np.random.default_rng(seed)
    for split in splits:
        for city in cities:
            for i in range(per_city):
                lab = cell_labels(rng, CITYSCAPES_IDS, size)
                stem = f"{city}_{i:06d}_000019"
                _write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", paint(lab, cityscapes_colour))
                _write_label(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", lab)
    return root


def write_cityscapes_pair(root: Path, split: str, city: str, stem: str, label_ids: np.ndarray) -> None:
    """One hand-made Cityscapes image/label pair (label_ids: (H, W) uint8 raw labelIds)."""
    _write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", paint(label_ids, cityscapes_colour))
    _write_label(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label_ids)


def save_tiny_checkpoint(path: Path, class_names: tuple[str, ...], palette: tuple[tuple[int, int, int], ...],
                         preset_name: str = "gun", dataset: str = "camvid", seed: int = 0,
                         scales: tuple[float, ...] = (1.0, 0.5)) -> Path:
    """A randomly initialised EfficientNet-Lite0 GUN (no ImageNet weights) saved as a checkpoint.
    With guidance, the offset head gets non-zero weights so that GUM and bilinear decoding differ."""
    from gun.nn.checkpoint import CheckpointMeta, save_checkpoint
    from gun.nn.config import preset
    from gun.nn.model import build_model

    torch.manual_seed(seed)
    config = preset(preset_name, encoder="efficientnet_lite0", num_classes=len(class_names), scales=scales)
    model = build_model(config).eval()
    if model.guidance is not None:
        with torch.no_grad():
            torch.nn.init.normal_(model.guidance.head.conv.weight, std=0.5)
    meta = CheckpointMeta(config, tuple(class_names), tuple(palette), model.mean, model.std, preset=preset_name,
                          dataset=dataset, licence="random test weights")
    save_checkpoint(path, model, meta)
    return path
