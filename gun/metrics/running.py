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
    # ring indices kept by frame index, so that a replayed frame (a looping clip, a step back) skips
    # its boundary distances, most of the scoring's time; at most this many bytes
    ring_cache_bytes: int = 64 * 2**20
    _ring_cache: dict[int, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start over, for a new source: the sums and the cached ring indices."""
        C = self.num_classes
        self._ring_cache = {}
        self.gum = np.zeros((C, C), np.int64)
        self.bilinear = np.zeros_like(self.gum)
        self.band_gum = np.zeros((len(self.bands), C, C), np.int64)
        self.band_bilinear = np.zeros_like(self.band_gum)
        self.frames = 0

    def rings(self, truth: np.ndarray, frame_index: int | None = None) -> np.ndarray | None:
        """The ground truth's ring_index (which band and class each pixel counts in), kept under
        `frame_index` until `reset`; None when the truth has class ids the model does not know.
        Depends on the truth alone: the app computes it while the frame is being decoded."""
        labelled = truth[truth != IGNORE]
        if labelled.size and int(labelled.max()) >= self.num_classes:
            return None  # e.g. 19-class Cityscapes truth for an 11-class CamVid model
        kept = self._ring_cache.get(frame_index) if frame_index is not None else None
        if kept is not None and kept.shape == truth.shape:
            return kept
        rings = ring_index(boundary_distance(truth), truth, self.bands, self.num_classes)
        C = self.num_classes
        if (len(self.bands) + 1) * C * C + C <= np.iinfo(np.uint16).max:  # every bin index fits: a quarter of the bytes
            rings = rings.astype(np.uint16)
        used = sum(r.nbytes for r in self._ring_cache.values())
        if frame_index is not None and used + rings.nbytes <= self.ring_cache_bytes:
            self._ring_cache[frame_index] = rings
        return rings

    def trimap(self) -> dict[str, list[float | None]]:
        """Running mIoU per band, for both decoders (None where a band has no pixels yet)."""
        return {"gum": band_mious(self.band_gum), "bilinear": band_mious(self.band_bilinear)}

    def update(self, result: FrameResult, rings: np.ndarray | None = None, frame_index: int | None = None) -> dict[str, float]:
        """Scores of this frame and of all frames so far; {} without ground truth, or with truth of
        unknown classes (then `mismatch` is set). `rings`: `self.rings(truth)` when already
        computed (another model's scores of the same frame: `last_rings`). `frame_index`: the
        frame's position in its source, under which its ring index is kept until `reset` (the same
        index must mean the same ground truth)."""
        if result.ground_truth is None:
            return {}
        if result.labels_bilinear is None:
            raise ValueError("scoring needs both decoders' labels: decode with bilinear=True")
        if rings is None:
            rings = self.rings(result.ground_truth, frame_index)
        if rings is None:
            self.mismatch = True
            return {}
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
