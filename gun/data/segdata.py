"""A labelled image set on disk: pairs of (RGB image, label map) with a label lookup table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

IGNORE = 255

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
    return lab.astype(np.uint8)


class SegmentationDataset(Dataset):
    """Items are (image (3, H, W) float normalised, label (H, W) int64) after the transform."""

    name = ""
    class_names: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    native_size: tuple[int, int] = (0, 0)  # (H, W)

    def __init__(self, pairs: Sequence[tuple[Path, Path]], lut: np.ndarray, transform: Transform | None = None,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.5, 0.5, 0.5), cache: bool = False) -> None:
        self.pairs = list(pairs)
        self.lut = lut  # raw label value -> train id
        self.transform = transform
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self._cache: dict[int, Sample] | None = {} if cache else None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, i: int) -> Sample:
        """The raw sample: RGB uint8 image and train-id label map, before any transform."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        img_path, lab_path = self.pairs[i]
        img, lab = read_rgb(img_path), self.lut[read_label(lab_path)]
        if img.shape[:2] != lab.shape:
            raise ValueError(f"{img_path}: image {img.shape[:2]} and label {lab.shape} sizes differ")
        if self._cache is not None:
            self._cache[i] = (img, lab)
        return img, lab

    def normalise(self, img: np.ndarray) -> torch.Tensor:
        x = (img.astype(np.float32) / 255.0 - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, lab = self.load(i)
        if self.transform is not None:
            img, lab = self.transform(img, lab)
        return self.normalise(img), torch.from_numpy(np.ascontiguousarray(lab)).long()
