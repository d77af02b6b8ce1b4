"""Scores that grow frame by frame (the app's live plots, the export sidecar): per-frame and running
mIoU of both decoders, and the running trimap."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gun.data.labels import IGNORE
from gun.metrics.boundary import band_mious, boundary_distance, ring_confusion
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
    last_distance: np.ndarray | None = None  # the boundary distances of the last frame scored
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

    def update(self, result: FrameResult, distance: np.ndarray | None = None) -> dict[str, float]:
        """Scores of this frame and of all frames so far; {} without ground truth. `distance`: the
        ground truth's boundary_distance when already computed (another model's scores of the same
        frame: `last_distance`)."""
        if result.ground_truth is None:
            return {}
        labelled = result.ground_truth[result.ground_truth != IGNORE]
        if labelled.size and int(labelled.max()) >= self.num_classes:
            self.mismatch = True  # e.g. 19-class Cityscapes truth for an 11-class CamVid model
            return {}
        dist = boundary_distance(result.ground_truth) if distance is None else distance
        self.last_distance = dist
        # one pass per decoder gives the frame's confusion matrix and the bands' (rings: nested by cumsum)
        rings_gum = ring_confusion(dist, result.ground_truth, result.labels_gum, self.bands, self.num_classes)
        rings_bil = ring_confusion(dist, result.ground_truth, result.labels_bilinear, self.bands, self.num_classes)
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
