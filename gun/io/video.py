"""Frame sources and sinks: video files, images, folders, Cityscapes folders, cameras; mp4 export.

No Qt here. Every source yields `Frame`s (RGB uint8, an index, a timestamp and, where the data
has it, a ground-truth label map) and fails with a `SourceError` whose message is one line that
says what to do. `open_source(spec)` picks the source from what the path is.
"""

from __future__ import annotations

import contextlib
import csv
import os
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; annotations are strings here

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ogv")
WEIGHTS_EXTENSIONS = (".safetensors", ".pt", ".pth", ".ckpt")



class SourceError(RuntimeError):
    """A frame source could not be opened or stopped delivering frames (one-line message)."""


@dataclass
class Frame:
    image: np.ndarray  # (H, W, 3) RGB uint8
    index: int  # position in the source, 0-based
    timestamp: float  # seconds since the start of the source (wall clock for cameras)
    labels: np.ndarray | None = None  # (H, W) uint8 ground truth, IGNORE where unlabelled
    name: str = ""  # file name or "frame N", for captions and sidecars


class FrameSource:
    """Base class: iterate, `read()` the next frame (None at the end), `seek(index)`, `close()`."""

    name: str = ""
    fps: float | None = None  # nominal rate; None for still images
    frame_count: int | None = None  # None when unknown (live cameras)
    live: bool = False  # True for cameras: frames that are not read in time are stale

    def read(self) -> Frame | None:
        raise NotImplementedError

    def seek(self, index: int) -> None:
        raise SourceError(f"{self.name} cannot seek")

    @property
    def seekable(self) -> bool:
        return not self.live

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bgr_to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) RGB uint8 (16-bit images are scaled down)."""
    data = np.fromfile(str(path), dtype=np.uint8)  # imdecode copes with non-ASCII paths
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise SourceError(f"cannot read image {path}: not an image OpenCV can decode")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    return _bgr_to_rgb(image)


def read_label_map(path: str | os.PathLike, lut: np.ndarray | None = None) -> np.ndarray:
    """A single-channel label PNG as (H, W) uint8, optionally mapped through a 256-entry LUT."""
    labels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)  # label PNGs hold ids, not grey levels
    if labels is None:
        raise SourceError(f"cannot read label map {path}")
    return lut[labels] if lut is not None else labels


class _Capture(FrameSource):
    """Shared part of VideoFileSource and CameraSource: a cv2.VideoCapture."""

    def __init__(self, capture: cv2.VideoCapture, name: str) -> None:
        self._cap = capture
        self.name = name
        self._next_index = 0
        self._t0: float | None = None

    def _grab(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        return image if ok and image is not None else None

    def close(self) -> None:
        self._cap.release()


class VideoFileSource(_Capture):
    """A video file read with OpenCV (every codec of its FFmpeg build; not AV1 here)."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"no such video file: {path}")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceError(f"cannot open {path.name} as a video: not a video format OpenCV can read")
        super().__init__(cap, path.name)
        self.path = path
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 25.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        # Some files open but decode nothing (AV1 with this FFmpeg build): detect it now, not as an
        # empty playback. The frame read here is handed out by the first read().
        self._pending = self._grab()
        if self._pending is None:
            cap.release()
            raise SourceError(
                f"{path.name} opened but gave no frames: its codec is not supported by this OpenCV build "
                f"(AV1?); re-encode it, e.g. ffmpeg -i {path.name} -c:v libx264 out.mp4"
            )

    def read(self) -> Frame | None:
        image = self._pending if self._pending is not None else self._grab()
        self._pending = None
        if image is None:
            return None
        index = self._next_index
        self._next_index += 1
        return Frame(_bgr_to_rgb(image), index, index / self.fps, name=f"{self.name} #{index}")

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
        with _quiet_opencv():
            cap = cv2.VideoCapture(device)
        if not cap.isOpened():
            raise SourceError(
                f"camera {index} is not available (cv2.VideoCapture({index!r}) did not open): "
                f"check it is connected and not in use, or pick another index"
            )
        super().__init__(cap, f"camera {index}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 30.0

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
        return Frame(_bgr_to_rgb(image), index, now - self._t0, name=f"{self.name} #{index}")


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's stderr warnings while probing devices that may not exist."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def list_cameras(max_index: int = 5) -> list[int]:
    """Indices 0..max_index-1 of cameras that open and deliver a frame."""
    found = []
    with _quiet_opencv():
        for index in range(max_index):
            cap = cv2.VideoCapture(index)
            try:
                if cap.isOpened() and cap.read()[0]:
                    found.append(index)
            finally:
                cap.release()
    return found


class _ImageList(FrameSource):
    """A list of image files, with optional ground-truth label files beside them."""

    def __init__(self, images: list[Path], name: str, labels: list[Path | None] | None = None,
                 lut: np.ndarray | None = None) -> None:
        if not images:
            raise SourceError(f"{name}: no images found")
        self.name = name
        self._images = images
        self._labels = labels or [None] * len(images)
        self._lut = lut
        self.frame_count = len(images)
        self.fps = 4.0  # pace of stills when played (a folder is often a sequence)
        self._next = 0

    @property
    def has_ground_truth(self) -> bool:
        return any(p is not None for p in self._labels)

    def read(self) -> Frame | None:
        if self._next >= len(self._images):
            return None
        i = self._next
        self._next += 1
        image = read_image(self._images[i])
        labels = None
        if self._labels[i] is not None:
            labels = read_label_map(self._labels[i], self._lut)
            if labels.shape != image.shape[:2]:
                raise SourceError(f"{self._labels[i].name}: label map size {labels.shape} differs from the image's")
        return Frame(image, i, float(i), labels, name=self._images[i].name)

    def seek(self, index: int) -> None:
        self._next = min(max(0, index), len(self._images) - 1)


class ImageSource(_ImageList):
    """One still image."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"no such image file: {path}")
        super().__init__([path], path.name)


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


class ImageFolderSource(_ImageList):
    """The images of a folder in sorted order (not recursive).

    CamVid layout: when the folder (say `val/`) has a sibling `valannot/` holding label PNGs with
    the same names, those are the ground truth (CamVid's 11 classes; Void = 11 -> ignored).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise SourceError(f"no such folder: {folder}")
        images = _images_in(folder)
        annot = folder.parent / f"{folder.name}annot"
        labels, lut = None, None
        if annot.is_dir():
            from gun.data.labels import camvid_lut as label_lut

            labels = [annot / p.name if (annot / p.name).is_file() else None for p in images]
            lut = label_lut()
        super().__init__(images, folder.name, labels, lut)


def cityscapes_label_path(image: Path) -> Path:
    """leftImg8bit/{split}/{city}/{name}_leftImg8bit.png -> gtFine/.../{name}_gtFine_labelIds.png."""
    parts = list(image.parts)
    idx = len(parts) - 1 - parts[::-1].index("leftImg8bit")
    parts[idx] = "gtFine"
    parts[-1] = parts[-1].replace("_leftImg8bit", "_gtFine_labelIds")
    return Path(*parts)


class CityscapesFolderSource(_ImageList):
    """Cityscapes frames under a folder (the dataset root, leftImg8bit/, a split or a city).

    Where gtFine/..._gtFine_labelIds.png exists for a frame, its labelIds are mapped to trainIds
    (19 classes, 255 = ignored) and served as ground truth.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        root = folder / "leftImg8bit" if (folder / "leftImg8bit").is_dir() else folder
        images = [p for p in _images_in(root, recursive=True) if p.name.endswith("_leftImg8bit.png")]
        labels: list[Path | None] = []
        for image in images:
            label = cityscapes_label_path(image) if "leftImg8bit" in image.parts else None
            labels.append(label if label is not None and label.is_file() else None)
        lut = None
        if any(labels):
            from gun.data.labels import LABEL_ID_TO_TRAIN_ID

            lut = LABEL_ID_TO_TRAIN_ID
        super().__init__(images, f"Cityscapes {folder.name}", labels, lut)


def is_cityscapes_folder(folder: Path) -> bool:
    if "leftImg8bit" in folder.parts or (folder / "leftImg8bit").is_dir():
        return True
    return next(folder.glob("*_leftImg8bit.png"), None) is not None


def camera_index(spec: str) -> int | None:
    """The camera index of "camera:N", "webcam:N" or a bare "N" (unless a file has that name)."""
    text = spec.strip().lower()
    for prefix in ("camera:", "webcam:"):
        if text.startswith(prefix):
            if not text[len(prefix):].isdigit():
                raise SourceError(f"bad camera {spec!r}: write camera:N with N = 0, 1, ...")
            return int(text[len(prefix):])
    return int(text) if text.isdigit() and not Path(spec).exists() else None


def open_source(spec: str | os.PathLike) -> FrameSource:
    """A frame source for `spec`: a camera ("camera:0", "webcam:1" or a bare index), a video file,
    an image, a Cityscapes folder or a folder of images."""
    camera = camera_index(str(spec))
    if camera is not None:
        return CameraSource(camera)
    path = Path(spec).expanduser()
    if path.is_dir():
        return CityscapesFolderSource(path) if is_cityscapes_folder(path) else ImageFolderSource(path)
    if not path.exists():
        raise SourceError(f"no such file or folder: {path}")
    suffix = path.suffix.lower()
    if suffix in WEIGHTS_EXTENSIONS:
        raise SourceError(f"{path.name} is a weights file, not a video or image (load it as weights)")
    if suffix in IMAGE_EXTENSIONS:
        return ImageSource(path)
    return VideoFileSource(path)


class Prefetcher:
    """Reads a source on a background thread so that decoding overlaps inference.

    Keeps up to `depth` frames ready. For live sources only the newest frame is kept: a frame that
    waited while the model was busy is stale, so it is dropped (and counted in `dropped`).
    Each item is (frame, decode_ms); errors of the source re-raise in `get()`.
    """

    _END = object()

    def __init__(self, source: FrameSource, depth: int = 3) -> None:
        self.source = source
        self.dropped = 0
        self._depth = 1 if source.live else depth
        self._queue: queue.Queue = queue.Queue(maxsize=self._depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Prefetcher:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"decode {self.source.name}", daemon=True)
        self._thread.start()
        return self

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            if self.source.live and item is not Prefetcher._END:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()  # replace a stale frame with the fresh one
                    self.dropped += 1
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                frame = self.source.read()
                if frame is None:
                    break
                self._put((frame, (time.perf_counter() - t0) * 1e3))
        except Exception as error:  # noqa: BLE001 - handed to the consumer
            self._put(error)
            return
        self._put(Prefetcher._END)

    def get(self, timeout: float | None = None) -> tuple[Frame, float] | None:
        """The next (frame, decode_ms), None at the end of the source; raises the source's error.

        With a timeout, raises queue.Empty when no frame is ready in time.
        """
        item = self._queue.get(timeout=timeout)
        if item is Prefetcher._END:
            self._queue.put(item)  # stay at the end for later calls
            return None
        if isinstance(item, BaseException):
            self._queue.put(item)
            raise item
        return item

    def stop(self) -> None:
        """Stop the reading thread and discard what it read (the source stays open)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def seek(self, index: int) -> None:
        self.stop()
        self.source.seek(index)
        self.start()


class VideoSink:
    """Writes an mp4v .mp4 that appears under its name only when it is complete.

    Frames go to a temporary file next to the target, renamed into place on a clean exit of the
    `with` block. On an exception or after `cancel()` the temporary file is deleted, so the target
    name never holds half a video. Optionally writes a per-frame CSV sidecar (`rows`) the same way.

        with VideoSink("out.mp4", fps=10, size=(768, 576)) as sink:
            sink.write(rgb_frame, {"frame": 0, "inference_ms": 12.3})
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
                 sidecar: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"VideoSink writes .mp4 files, got {self.path.name}")
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.size = (int(size[0]), int(size[1]))  # (width, height) of the frames given to write()
        # MPEG-4 needs even dimensions (FFmpeg would silently rescale): odd ones get one more
        # pixel, a copy of the last column or row
        self.encoded_size = (self.size[0] + self.size[0] % 2, self.size[1] + self.size[1] % 2)
        self.sidecar = Path(sidecar) if sidecar is not None else None
        self.frames_written = 0
        self._rows: list[dict] = []
        self._cancelled = False
        self._writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temporary_name(self.path)
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.encoded_size)
        if not self._writer.isOpened():
            self._discard()
            raise OSError(f"cannot write {self.path}: OpenCV's mp4v writer did not open")
        return self

    def write(self, frame: np.ndarray, row: dict | None = None) -> None:
        """Append one (H, W, 3) RGB uint8 frame of the sink's size; `row` goes to the sidecar."""
        if self._writer is None:
            raise RuntimeError("VideoSink.write outside its with block")
        if frame.shape[:2] != (self.size[1], self.size[0]):
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the sink expects {self.size[0]}x{self.size[1]}")
        bgr = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
        if self.encoded_size != self.size:
            pad_w, pad_h = self.encoded_size[0] - self.size[0], self.encoded_size[1] - self.size[1]
            bgr = cv2.copyMakeBorder(bgr, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        self._writer.write(bgr)
        self.frames_written += 1
        if row is not None:
            self._rows.append(row)

    def cancel(self) -> None:
        """Give up: on leaving the with block nothing is left on disk."""
        self._cancelled = True

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None or self._cancelled or self.frames_written == 0:
            self._discard()
            if exc_type is None and not self._cancelled:
                raise ValueError(f"no frames were written: {self.path} not created")
            return
        assert self._writer is not None and self._tmp is not None
        self._writer.release()
        self._writer = None
        try:
            if self.sidecar is not None:
                _write_csv_atomically(self.sidecar, self._rows)
            os.replace(self._tmp, self.path)
        finally:
            if self._tmp.exists():
                self._tmp.unlink()
            self._tmp = None


def _temporary_name(path: Path) -> Path:
    """A hidden unused name beside `path` with the same extension (OpenCV picks the container by it);
    created with ordinary permissions, unlike mkstemp's private 0600."""
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")


def _write_csv_atomically(path: Path, rows: list[dict]) -> None:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    tmp = _temporary_name(path)
    try:
        with open(tmp, "x", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
