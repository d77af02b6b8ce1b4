"""Annotated-video export and per-frame scoring, shared by `gun annotate` and the app's exporter.

`export_video` reads a source, segments each frame with any callable returning a FrameResult
(normally a gun.infer.Segmenter), draws it with gun.annotate.render and writes an mp4 plus a
per-frame CSV sidecar (timings, mIoU against ground truth when the source has it, classes
present) through gun.video.VideoSink, so a cancelled or failed export leaves no file behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gun.annotate import ViewSettings, render, rendered_size
from gun.metrics import confusion_matrix, scores
from gun.result import FrameResult
from gun.trimap import band_confusion, band_mious, boundary_distance
from gun.video import IGNORE, Frame, FrameSource, VideoSink

Segment = Callable[[np.ndarray], FrameResult]


@dataclass
class RunningScores:
    """Per-frame and running mIoU of both decoders against ground truth, and the running trimap
    (mIoU of the pixels within `bands` pixels of a ground-truth boundary; gun.trimap)."""

    num_classes: int
    bands: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    gum: np.ndarray = field(init=False)  # (C, C) confusion summed over frames
    bilinear: np.ndarray = field(init=False)
    band_gum: np.ndarray = field(init=False)  # (B, C, C) per band
    band_bilinear: np.ndarray = field(init=False)
    frames: int = 0
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

    def update(self, result: FrameResult) -> dict[str, float]:
        """Scores of this frame and of all frames so far; {} without ground truth."""
        if result.ground_truth is None:
            return {}
        labelled = result.ground_truth[result.ground_truth != IGNORE]
        if labelled.size and int(labelled.max()) >= self.num_classes:
            self.mismatch = True  # e.g. 19-class Cityscapes truth for an 11-class CamVid model
            return {}
        target = torch.from_numpy(result.ground_truth)
        cm_gum = confusion_matrix(torch.from_numpy(result.labels_gum), target, self.num_classes).numpy()
        cm_bil = confusion_matrix(torch.from_numpy(result.labels_bilinear), target, self.num_classes).numpy()
        self.gum += cm_gum
        self.bilinear += cm_bil
        dist = boundary_distance(result.ground_truth)
        self.band_gum += band_confusion(dist, result.ground_truth, result.labels_gum, self.bands, self.num_classes)
        self.band_bilinear += band_confusion(dist, result.ground_truth, result.labels_bilinear, self.bands,
                                             self.num_classes)
        self.frames += 1
        return {
            "miou_gum": scores(cm_gum).miou, "miou_bilinear": scores(cm_bil).miou,
            "running_miou_gum": scores(self.gum).miou, "running_miou_bilinear": scores(self.bilinear).miou,
        }


def frame_record(frame: Frame, result: FrameResult, frame_scores: dict[str, float],
                 class_names: Sequence[str]) -> dict[str, object]:
    """One row of the export sidecar."""
    counts = np.bincount(result.labels_gum.ravel(), minlength=len(class_names))
    row: dict[str, object] = {"frame": frame.index, "time_s": round(frame.timestamp, 4), "name": frame.name}
    row.update({f"{k}_ms": round(v, 3) for k, v in result.timings.items()})
    row.update({k: round(v, 5) for k, v in frame_scores.items()})
    row["differ_pct"] = round(100 * float(np.mean(result.labels_gum != result.labels_bilinear)), 4)
    row["classes"] = ";".join(name for name, n in zip(class_names, counts) if n > 0)
    return row


@dataclass
class ExportReport:
    path: Path
    frames: int
    cancelled: bool
    sidecar: Path | None


def export_video(source: FrameSource, segment: Segment, path: str | Path, view: ViewSettings,
                 class_names: Sequence[str], palette: Sequence[Sequence[int]], *, frames: int | None = None,
                 sidecar: bool = True, progress: Callable[[int, int | None], None] | None = None,
                 cancel: threading.Event | None = None) -> ExportReport:
    """Write `source` (up to `frames` frames) annotated as `view` to `path` (.mp4).

    `progress(done, total)` is called after every frame; setting `cancel` stops the export and
    deletes what was written. Returns what was written.
    """
    path = Path(path)
    total = source.frame_count if frames is None else (min(frames, source.frame_count) if source.frame_count else frames)
    if total is None:
        raise ValueError(f"{source.name} has no end: give a number of frames to export")
    side = path.with_suffix(".csv") if sidecar else None
    running = RunningScores(len(class_names))
    first = source.read()
    if first is None:
        raise ValueError(f"{source.name} gave no frames to export")
    size = rendered_size((first.image.shape[1], first.image.shape[0]), view)
    written = 0
    with VideoSink(path, source.fps or 10.0, size, sidecar=side) as sink:
        frame: Frame | None = first
        while frame is not None and written < total:
            if cancel is not None and cancel.is_set():
                sink.cancel()
                return ExportReport(path, 0, True, None)
            result = segment(frame.image)
            result.ground_truth = frame.labels
            sink.write(render(frame.image, result, view, class_names, palette),
                       frame_record(frame, result, running.update(result), class_names))
            written += 1
            if progress is not None:
                progress(written, total)
            frame = source.read() if written < total else None
    return ExportReport(path, written, False, side)
