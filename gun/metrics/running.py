"""Scores that grow frame by frame (the app's live plots, the export sidecar): per-frame and running
mIoU of both decoders, and the running trimap."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gun.data.labels import IGNORE
from gun.metrics.boundary import band_mious, boundary_distance, ring_confusion_at, ring_index
from gun.metrics.confusion import scores
from gun.runtime.result import FrameResult


@dataclass
class RunningScores:
    """Per-frame and running mIoU of both decoders against ground truth, and the running trimap
    (mIoU of the pixels within `bands` pixels of a ground-truth boundary; gun.experiments.trimap)."""

    num_classes: int
    bands: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    gum: np.ndarray = field(init=False)  # (C, C) confusion summed over frames
    bilinear: np.ndarray = field(init=False)
    band_gum: np.ndarray = field(init=False)  # (B, C, C) per band
    band_bilinear: np.ndarray = field(init=False)
    frames: int = 0
    last_rings: np.ndarray | None = None  # the last frame's ring_index (from its ground truth alone)
    mismatch: bool = False  # ground truth had class ids the model does not know: not scored

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        C = self.num_classes
        self.gum = np.zeros((C, C), np.int64)
        self.bilinear = np.zeros_like(self.gum)
        self.band_gum = np.zeros((len(self.bands), C, C), np.int64)
        self.band_bilinear = np.zeros_like(self.band_gum)
        self.frames = 0

    def trimap(self) -> dict[str, list[float | None]]:
        """Running mIoU per band, for both decoders (None where a band has no pixels yet)."""
        return {"gum": band_mious(self.band_gum), "bilinear": band_mious(self.band_bilinear)}

    def update(self, result: FrameResult, rings: np.ndarray | None = None) -> dict[str, float]:
        """Scores of this frame and of all frames so far; {} without ground truth. `rings`: the
        ground truth's ring_index when already computed (another model's scores of the same frame:
        `last_rings`)."""
        if result.ground_truth is None:
            return {}
        labelled = result.ground_truth[result.ground_truth != IGNORE]
        if labelled.size and int(labelled.max()) >= self.num_classes:
            self.mismatch = True  # e.g. 19-class Cityscapes truth for an 11-class CamVid model
            return {}
        if rings is None:
            rings = ring_index(boundary_distance(result.ground_truth), result.ground_truth, self.bands, self.num_classes)
        self.last_rings = rings
        # one bincount per decoder gives the frame's confusion matrix and the bands' (rings: nested by cumsum)
        R = len(self.bands) + 1
        rings_gum = ring_confusion_at(rings, result.labels_gum, R, self.num_classes)
        rings_bil = ring_confusion_at(rings, result.labels_bilinear, R, self.num_classes)
        cm_gum, cm_bil = rings_gum.sum(0), rings_bil.sum(0)
        self.gum += cm_gum
        self.bilinear += cm_bil
        self.band_gum += np.cumsum(rings_gum[:-1], axis=0)
        self.band_bilinear += np.cumsum(rings_bil[:-1], axis=0)
        self.frames += 1
        return {
            "miou_gum": scores(cm_gum).miou, "miou_bilinear": scores(cm_bil).miou,
            "running_miou_gum": scores(self.gum).miou, "running_miou_bilinear": scores(self.bilinear).miou,
        }
