"""A labelled image set on disk: pairs of (RGB image, label map) with a label lookup table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

Sample = tuple[np.ndarray, np.ndarray]  # (H, W, 3) uint8 RGB, (H, W) uint8 train ids (255 = ignore)
Transform = Callable[[np.ndarray, np.ndarray], Sample]


def read_rgb(path: str | Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: cannot read image (missing or not an image file)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_label(path: str | Path) -> np.ndarray:
    lab = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if lab is None or lab.ndim != 2:
        raise ValueError(f"{path}: cannot read a single-channel label image")
    if lab.dtype != np.uint8:
        if lab.dtype.kind not in "ui" or lab.min() < 0 or lab.max() > 255:
            raise ValueError(f"{path}: label values must be 0-255 (found {lab.dtype} up to {lab.max()}): save labels as 8-bit PNG")
        lab = lab.astype(np.uint8)
    return lab


class SegmentationDataset(Dataset):
    """Items are (image (3, H, W) uint8 RGB, label (H, W) int64) after the transform; the model's
    normalisation is applied later, on the device, by gun.runtime.frames (written once for every path)."""

    name = ""
    class_names: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    native_size: tuple[int, int] = (0, 0)  # (H, W)

    def __init__(self, pairs: Sequence[tuple[Path, Path]], lut: np.ndarray, transform: Transform | None = None) -> None:
        self.pairs = list(pairs)
        self.lut = lut  # raw label value -> train id
        self.transform = transform

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, i: int) -> Sample:
        """The raw sample: RGB uint8 image and train-id label map, before any transform."""
        img_path, lab_path = self.pairs[i]
        img, lab = read_rgb(img_path), self.lut[read_label(lab_path)]
        if img.shape[:2] != lab.shape:
            raise ValueError(f"{img_path}: image {img.shape[:2]} and label {lab.shape} sizes differ")
        return img, lab

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, lab = self.load(i)
        if self.transform is not None:
            img, lab = self.transform(img, lab)
        return image_tensor(img), torch.from_numpy(np.ascontiguousarray(lab)).long()


def image_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
