"""Segmentation metrics from a confusion matrix (rows = ground truth, columns = prediction)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gun.data.labels import IGNORE


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) int64 counts over pixels whose target is not ignored (pred and target any equal shape)."""
    # ignored pixels go to one extra bin instead of being masked out (boolean indexing is 5x slower)
    C2 = num_classes * num_classes
    idx = torch.where(target != IGNORE, target.long() * num_classes + pred.long(), C2)
    return torch.bincount(idx.flatten(), minlength=C2 + 1)[:C2].view(num_classes, num_classes)


@dataclass(frozen=True)
class Scores:
    miou: float  # mean over classes present in the ground truth or the prediction
    iou: np.ndarray  # (C,) NaN where a class is absent from both
    pixel_acc: float


def scores(cm: torch.Tensor | np.ndarray) -> Scores:
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    total = cm.sum()
    return Scores(miou=float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"), iou=iou,
                  pixel_acc=float(tp.sum() / total) if total else float("nan"))
