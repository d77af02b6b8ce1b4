"""A video file with per-frame ground truth beside it: `NAME.mp4` + `NAME.labels.npz`.

The sidecar holds `labels`, an (N, H, W) uint8 array of class indices in the model's own order
(255 = ignored), one map per frame of the video; optionally `names`, the frames' original file
names. The bundled in-domain sample (assets/camvid_0016E5.mp4, CamVid val) is stored this way, so
the app can score it live. `open_source` hands any video that has such a sidecar to this source.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gun.io.base import Frame, SourceError
from gun.io.sources import VideoFileSource

LABELS_SUFFIX = ".labels.npz"


def labels_path(video: str | os.PathLike) -> Path:
    """Where the ground truth of `video` lives: the same name with .labels.npz."""
    video = Path(video)
    return video.with_name(video.stem + LABELS_SUFFIX)


class LabelledVideoSource(VideoFileSource):
    """A video file whose frames carry ground-truth label maps from its .labels.npz sidecar."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path)
        sidecar = labels_path(path)
        try:
            with np.load(sidecar, allow_pickle=False) as data:
                labels = data["labels"]
                names = [str(n) for n in data["names"]] if "names" in data.files else []
        except (OSError, ValueError, KeyError) as error:
            self.close()
            raise SourceError(f"cannot read ground truth {sidecar.name}: {error}; delete or rebuild it") from None
        if labels.ndim != 3 or labels.dtype != np.uint8:
            self.close()
            raise SourceError(f"{sidecar.name}: labels must be an (N, H, W) uint8 array, got {labels.shape} {labels.dtype}")
        if self.frame_count is not None and len(labels) != self.frame_count:
            self.close()
            raise SourceError(f"{sidecar.name} has {len(labels)} label maps for {self.frame_count} frames of {self.name}")
        self.labels = labels
        self.label_names = names

    def read(self) -> Frame | None:
        frame = super().read()
        if frame is None or frame.index >= len(self.labels):
            return frame
        labels = self.labels[frame.index]
        if labels.shape != frame.image.shape[:2]:
            raise SourceError(f"{labels_path(self.path).name}: label map {labels.shape} differs from the frame's "
                              f"{frame.image.shape[:2]}")
        frame.labels = labels
        if frame.index < len(self.label_names):
            frame.name = self.label_names[frame.index]
        return frame


def open_video(path: str | os.PathLike) -> VideoFileSource:
    """A video file source, with ground truth when a .labels.npz sidecar sits beside it."""
    return LabelledVideoSource(path) if labels_path(path).is_file() else VideoFileSource(path)
