"""Annotated-video export and per-frame scoring, shared by `gun annotate` and the app's exporter.

`export_video` reads a source, segments each frame with any callable returning a FrameResult
(normally a gun.runtime.segmenter.Segmenter), draws it with gun.render.annotate.render and writes an mp4 plus a
per-frame CSV sidecar (timings, mIoU against ground truth when the source has it, classes
present) through gun.io.sinks.VideoSink, so a cancelled or failed export leaves no file behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gun.data.labels import IGNORE
from gun.io.base import Frame, FrameSource
from gun.io.sinks import VideoSink
from gun.metrics.running import RunningScores
from gun.render.annotate import ViewSettings, render, rendered_size
from gun.runtime.result import FrameResult

Segment = Callable[[np.ndarray], FrameResult]


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


def _conform(frame: Frame, shape: tuple[int, ...], source: FrameSource) -> Frame:
    """A frame at the first frame's size: a video has one size, a folder of images may not."""
    h, w = shape[:2]
    if frame.image.shape[:2] == (h, w):
        return frame
    source.note(f"{source.name}: images of different sizes; each is resized to the first one's {w}x{h}")
    labels = None if frame.labels is None else cv2.resize(frame.labels, (w, h), interpolation=cv2.INTER_NEAREST)
    image = cv2.resize(frame.image, (w, h), interpolation=cv2.INTER_AREA)
    return Frame(image, frame.index, frame.timestamp, labels, frame.name)


@dataclass
class ExportReport:
    path: Path
    frames: int
    cancelled: bool
    sidecar: Path | None
    ground_truth_frames: int = 0  # frames that came with a label map
    labelled_pixels: int = 0  # their pixels that are not IGNORE (0: the ground truth scores nothing)


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
    written = gt_frames = labelled = 0
    with VideoSink(path, source.fps or 10.0, size, sidecar=side) as sink:
        frame: Frame | None = first
        while frame is not None and written < total:
            if cancel is not None and cancel.is_set():
                sink.cancel()
                return ExportReport(path, 0, True, None)
            frame = _conform(frame, first.image.shape[:2], source)
            result = segment(frame.image)
            result.ground_truth = frame.labels
            if frame.labels is not None:
                gt_frames += 1
                labelled += int(np.count_nonzero(frame.labels != IGNORE))
            sink.write(render(frame.image, result, view, class_names, palette),
                       frame_record(frame, result, running.update(result), class_names))
            written += 1
            if progress is not None:
                progress(written, total)
            frame = source.read() if written < total else None
    return ExportReport(path, written, False, side, gt_frames, labelled)
