"""The paper's augmentations (Table 3), on numpy (RGB uint8 image, uint8 label) pairs.

Random scale in [0.5, 2] (the paper's choice), random crop (image reflection-padded, label padded
with ignore, as DRN does), horizontal flip, colour jitter (brightness, saturation, contrast in
random order) and AlexNet's PCA lighting noise (sigma 0.1). Each is switchable in `augmentation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from gun.data.labels import IGNORE
from gun.data.segdata import Sample

# AlexNet / fb.resnet.torch ImageNet PCA (RGB order)
PCA_EIGVAL = np.array([0.2175, 0.0188, 0.0045], np.float32)
PCA_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]], np.float32)


@dataclass(frozen=True)
class Augmentation:
    crop: tuple[int, int] | None = None  # (H, W)
    scale: tuple[float, float] | None = (0.5, 2.0)
    flip: bool = True
    color_jitter: float = 0.0  # strength of brightness/saturation/contrast jitter; 0 = off
    lighting: float = 0.0  # PCA noise sigma; the paper tried 0.1


class Compose:
    """Applies an Augmentation with its own numpy Generator (seed: an int or a list of ints)."""

    def __init__(self, aug: Augmentation, seed: int | Sequence[int] = 0) -> None:
        self.aug = aug
        self.rng = np.random.default_rng(seed)

    def __call__(self, img: np.ndarray, lab: np.ndarray) -> Sample:
        a, rng = self.aug, self.rng
        if a.scale is not None:
            img, lab = random_scale(img, lab, rng.uniform(*a.scale))
        if a.crop is not None:
            img, lab = random_crop(img, lab, a.crop, rng)
        if a.flip and rng.random() < 0.5:
            img, lab = img[:, ::-1], lab[:, ::-1]
        if a.color_jitter > 0:
            img = color_jitter(img, a.color_jitter, rng)
        if a.lighting > 0:
            img = lighting(img, a.lighting, rng)
        return np.ascontiguousarray(img), np.ascontiguousarray(lab)


def random_scale(img: np.ndarray, lab: np.ndarray, s: float) -> Sample:
    h, w = lab.shape
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return (cv2.resize(img, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(lab, size, interpolation=cv2.INTER_NEAREST))


def random_crop(img: np.ndarray, lab: np.ndarray, crop: Sequence[int], rng: np.random.Generator) -> Sample:
    ch, cw = crop
    h, w = lab.shape
    ph, pw = max(0, ch - h), max(0, cw - w)
    if ph or pw:
        img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
        lab = cv2.copyMakeBorder(lab, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=IGNORE)
        h, w = lab.shape
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return img[y:y + ch, x:x + cw], lab[y:y + ch, x:x + cw]


def _blend(a: np.ndarray, b: np.ndarray | float, alpha: float) -> np.ndarray:
    return a * alpha + b * (1 - alpha)


def color_jitter(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, saturation and contrast, each by a factor in [1-s, 1+s], in random order."""
    x = img.astype(np.float32)
    for op in rng.permutation(3):
        alpha = 1.0 + rng.uniform(-strength, strength)
        gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
        if op == 0:
            x = x * alpha
        elif op == 1:
            x = _blend(x, gray[..., None], alpha)
        else:
            x = _blend(x, float(gray.mean()), alpha)
    return np.clip(x, 0, 255).astype(np.uint8)


def lighting(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """AlexNet-style PCA noise: add eigvec @ (alpha * eigval), alpha ~ N(0, sigma), per image."""
    alpha = rng.normal(0, sigma, 3).astype(np.float32)
    rgb = PCA_EIGVEC @ (alpha * PCA_EIGVAL) * 255.0
    return np.clip(img.astype(np.float32) + rgb, 0, 255).astype(np.uint8)
