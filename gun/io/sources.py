"""Video files and cameras, and `open_source(spec)`, which picks the source from what the path is.

A video file whose header promises more frames than decode is reported as damaged (frames
promised vs decoded) instead of ending early in silence; frames above MAX_FRAME_PIXELS are
downscaled on read, with a note.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from gun.io.base import (
    IMAGE_EXTENSIONS,
    WEIGHTS_EXTENSIONS,
    Frame,
    FrameSource,
    SourceError,
    bgr_to_rgb,
    bound_frame,
    check_readable,
    downscale_note,
    quiet_opencv,
)
from gun.io.files import path_problem
from gun.io.folders import CityscapesFolderSource, ImageFolderSource, ImageSource, is_cityscapes_folder


def damaged_shortfall(declared: int) -> int:
    """How many frames fewer than the header promises still count as intact: containers estimate
    their frame count from duration x rate, which can be off by a frame or two."""
    return max(2, declared // 50)


class _Capture(FrameSource):
    """Shared part of VideoFileSource and CameraSource: a cv2.VideoCapture."""

    def __init__(self, capture: cv2.VideoCapture, name: str) -> None:
        self._cap = capture
        self.name = name
        self._next_index = 0
        self._t0: float | None = None

    def _grab(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        bounded = bound_frame(image)
        if bounded is not image:
            self.note(downscale_note(self.name, image.shape))
        return bounded

    def close(self) -> None:
        self._cap.release()


class VideoFileSource(_Capture):
    """A video file read with OpenCV (every codec of its FFmpeg build; not AV1 here)."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = check_readable(path, "video file")
        with quiet_opencv():  # FFmpeg's own complaints about a broken file: our message says it in one line
            cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceError(f"cannot open {path.name} as a video: not a video format OpenCV can read")
        super().__init__(cap, path.name)
        self.path = path
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps: float = fps if 0 < fps < 1000 else 25.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        # Some files open but decode nothing (AV1 with this FFmpeg build): detect it now, not as an
        # empty playback. The frame read here is handed out by the first read().
        self._pending = self._grab()
        if self._pending is None:
            cap.release()
            raise SourceError(
                f"{path.name} opened but gave no frames: its codec is not supported by this OpenCV build "
                f"(AV1?) or the file is damaged; re-encode it, e.g. ffmpeg -i {path.name} -c:v libx264 out.mp4"
            )

    def read(self) -> Frame | None:
        image = self._pending if self._pending is not None else self._grab()
        self._pending = None
        if image is None:
            declared = self.frame_count
            if declared is not None and self._next_index < declared - damaged_shortfall(declared):
                raise SourceError(f"{self.name} is damaged (truncated?): its header promises {declared} frames but only "
                                  f"{self._next_index} decode; re-encode or repair it, or use the first {self._next_index}")
            return None
        index = self._next_index
        self._next_index += 1
        return Frame(bgr_to_rgb(image), index, index / self.fps, name=f"{self.name} #{index}")

    def seek(self, index: int) -> None:
        if self.frame_count is not None:
            index = min(index, self.frame_count - 1)
        index = max(0, index)
        self._pending = None
        if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, index):
            raise SourceError(f"{self.name}: seeking is not supported for this file")
        self._next_index = index


class CameraSource(_Capture):
    """A live camera by index (or, for tests and replays, a video file played as if live)."""

    live = True

    def __init__(self, index: int | str | os.PathLike = 0) -> None:
        device = index if isinstance(index, int) else str(index)
        with quiet_opencv():
            cap = cv2.VideoCapture(device)
        if not cap.isOpened():
            raise SourceError(
                f"camera {index} is not available (cv2.VideoCapture({index!r}) did not open): "
                f"check it is connected and not in use, or pick another index"
            )
        super().__init__(cap, f"camera {index}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps: float = fps if 0 < fps < 1000 else 30.0

    def read(self) -> Frame | None:
        image = self._grab()
        if image is None:
            if self._next_index == 0:
                raise SourceError(f"{self.name} opened but delivered no frame")
            raise SourceError(f"{self.name} stopped delivering frames (disconnected?)")
        now = time.perf_counter()
        self._t0 = now if self._t0 is None else self._t0
        index = self._next_index
        self._next_index += 1
        return Frame(bgr_to_rgb(image), index, now - self._t0, name=f"{self.name} #{index}")


def list_cameras(max_index: int = 5) -> list[int]:
    """Indices 0..max_index-1 of cameras that open and deliver a frame."""
    found = []
    with quiet_opencv():
        for index in range(max_index):
            cap = cv2.VideoCapture(index)
            try:
                if cap.isOpened() and cap.read()[0]:
                    found.append(index)
            finally:
                cap.release()
    return found


def camera_index(spec: str) -> int | None:
    """The camera index of "camera:N", "webcam:N" or a bare "N" (unless a file has that name)."""
    text = spec.strip().lower()
    for prefix in ("camera:", "webcam:"):
        if text.startswith(prefix):
            if not text[len(prefix):].isdigit():
                raise SourceError(f"bad camera {spec!r}: write camera:N with N = 0, 1, ...")
            return int(text[len(prefix):])
    return int(text) if text.isdigit() and not os.path.lexists(spec) else None


def open_source(spec: str | os.PathLike) -> FrameSource:
    """A frame source for `spec`: a camera ("camera:0", "webcam:1" or a bare index), a video file,
    an image, a Cityscapes folder or a folder of images."""
    if not str(spec).strip():
        raise SourceError("no source given: name a video, image, folder or camera:N")
    camera = camera_index(str(spec))
    if camera is not None:
        return CameraSource(camera)
    path = Path(spec).expanduser()
    if path.is_dir():
        return CityscapesFolderSource(path) if is_cityscapes_folder(path) else ImageFolderSource(path)
    problem = path_problem(path)
    if problem is not None:
        raise SourceError(problem.replace("no such file:", "no such file or folder:"))
    suffix = path.suffix.lower()
    if suffix in WEIGHTS_EXTENSIONS:
        raise SourceError(f"{path.name} is a weights file, not a video or image (load it as weights)")
    if path.stat().st_size == 0:
        raise SourceError(f"{path.name} is empty (0 bytes): not a video or image")
    if suffix in IMAGE_EXTENSIONS:
        return ImageSource(path)
    from gun.io.labelled_video import open_video  # a video with a NAME.labels.npz sidecar brings ground truth
    return open_video(path)
