"""What the worker and the GUI say to each other: plain dataclasses of numpy arrays and strings.

The worker (app.worker) emits these; the presenter (app.presenter) reads them. Nothing here
imports torch or Qt widgets, so either side can use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gun.io.base import Frame
from gun.paths import TWIN_WEIGHTS
from gun.render.annotate import ViewSettings
from gun.runtime.result import FrameResult

# topics of failures: a success of the same topic clears the banner line of that topic
SOURCE, MODEL, SCORE, ACTION = "source", "model", "score", "action"


@dataclass
class FrameBundle:
    """One processed frame for the GUI."""

    frame: Frame
    result: FrameResult | None  # None while no model is loaded: the plain frame is shown
    timings: dict[str, float]  # ms: decode + the Segmenter's stages (+ "twin" when the twin ran, "score" with ground truth)
    scores: dict[str, float]  # per-frame and running mIoU of the decoders, when ground truth exists
    frame_count: int | None
    dropped: int  # frames a live source dropped so far because the model was busy
    trimap: dict | None = None  # running band mIoU {"bands", "gum", "bilinear"[, "twin"]} with ground truth
    twin: FrameResult | None = None  # the bilinear twin's segmentation of the same frame
    playing: bool = True  # False for frames shown by a step, a seek or a redraw while paused


@dataclass
class ModelInfo:
    path: str
    description: str
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    has_guidance: bool
    device: str
    dtype: str
    cuda_available: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""
    twin: str = ""  # description of the bilinear twin running beside it, "" when none


@dataclass
class SourceInfo:
    spec: str
    name: str
    frame_count: int | None
    fps: float | None
    live: bool
    seekable: bool

    @property
    def still(self) -> bool:
        """One image: there is no frame rate to speak of."""
        return not self.live and self.frame_count == 1

    def holds_back(self, fps: float | None) -> bool:
        """Whether a paced playback at `fps` runs at this video's own frame rate (within 5%): the
        video, not the pipeline, then sets the pace."""
        return bool(fps and self.fps and not self.live and fps >= 0.95 * self.fps)


@dataclass
class ExportJob:
    path: str
    view: ViewSettings
    frames: int | None = None  # None = the whole source
    sidecar: bool = True


def twin_path(weights: str | Path) -> Path | None:
    """The bilinear twin that sits beside `weights` (the paper's comparison: the same network
    trained the same way, without guidance), or None."""
    weights = Path(weights)
    twin = weights.with_name(TWIN_WEIGHTS.name)
    if weights.name == TWIN_WEIGHTS.name or not twin.is_file():
        return None
    return twin
