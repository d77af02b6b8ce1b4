"""What every frame source shares: the Frame record, the FrameSource interface, the one-line
SourceError, image decoding with a bound on frame size, and the checks that turn odd paths
(FIFOs, symlink loops, folders, unreadable files) into clear messages. No Qt, no torch."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# FFmpeg (inside OpenCV) prints its own complaints about broken files straight to stderr, several
# lines each; every failure here is reported in one line instead. Read when OpenCV first opens a file.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; set it to 24 to see FFmpeg's warnings

import cv2
import numpy as np

from gun.io.files import path_problem

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is 3.11+; annotations are strings here

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ogv")
WEIGHTS_EXTENSIONS = (".safetensors", ".pt", ".pth", ".ckpt")

# Frames above this many pixels are downscaled on read (keeping their aspect ratio): the model runs
# at its checkpoint's input size anyway, but decoding and drawing happen at frame size, and a
# 10000 x 10000 still would otherwise take gigabytes. 3840 x 2160 (4K UHD) passes untouched.
MAX_FRAME_PIXELS = 3840 * 2160
# Images whose header claims more than this are refused before decoding (a decompression bomb
# would allocate gigabytes just to be decoded).
MAX_IMAGE_PIXELS = 200_000_000


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
    """Base class: iterate, `read()` the next frame (None at the end), `seek(index)`, `close()`.

    `notes` collects one-line remarks a user should see (frames downscaled, annotations missing);
    commands print them, the app shows them.
    """

    name: str = ""
    fps: float | None = None  # nominal rate; None for still images
    frame_count: int | None = None  # None when unknown (live cameras)
    live: bool = False  # True for cameras: frames that are not read in time are stale

    @property
    def notes(self) -> list[str]:
        if "_notes" not in self.__dict__:
            self._notes: list[str] = []
        return self._notes

    def note(self, text: str) -> None:
        """Record a remark once (sources call it for every frame; it is kept once)."""
        if text not in self.notes:
            self.notes.append(text)

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


def check_readable(path: str | os.PathLike, what: str = "file") -> Path:
    """`path` as a Path, or a SourceError saying why it cannot be read."""
    problem = path_problem(path, what)
    if problem is not None:
        raise SourceError(problem)
    return Path(path)


def bgr_to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def bounded_size(width: int, height: int, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, to at most `max_pixels` (default MAX_FRAME_PIXELS);
    unchanged when within it."""
    max_pixels = MAX_FRAME_PIXELS if max_pixels is None else max_pixels
    if width * height <= max_pixels:
        return width, height
    scale = (max_pixels / (width * height)) ** 0.5
    return max(1, int(width * scale)), max(1, int(height * scale))


def bound_frame(image: np.ndarray, max_pixels: int | None = None) -> np.ndarray:
    """The frame downscaled (INTER_AREA) to at most `max_pixels`, or itself."""
    h, w = image.shape[:2]
    size = bounded_size(w, h, max_pixels)
    return image if size == (w, h) else cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def downscale_note(name: str, shape: tuple[int, ...]) -> str:
    w, h = bounded_size(shape[1], shape[0])
    return f"{name}: {shape[1]}x{shape[0]} frames are larger than {MAX_FRAME_PIXELS / 1e6:.1f} MP and are processed at {w}x{h}"


def image_header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) from the image file's header without decoding it; None when unknown."""
    try:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None  # reading the header only; the size is checked by the caller
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except Exception:  # noqa: BLE001 - no header reader for this file: OpenCV decides below
        return None


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """An image file as (H, W, 3) RGB uint8 (16-bit images are scaled down to 8 bits), downscaled
    to at most `max_pixels`."""
    return bgr_to_rgb(bound_frame(decode_image(path), max_pixels))


def decode_image(path: str | os.PathLike) -> np.ndarray:
    """An image file at its own size as OpenCV decodes it: (H, W) grey, (H, W, 3) BGR or (H, W, 4) BGRA uint8."""
    problem = path_problem(path)
    if problem is not None:
        raise SourceError(problem)
    size = image_header_size(path)
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise SourceError(f"{Path(path).name} is {size[0]}x{size[1]} pixels, too large to decode safely: "
                          f"downscale it below {MAX_IMAGE_PIXELS // 1_000_000} MP first")
    data = np.fromfile(str(path), dtype=np.uint8)  # imdecode copes with non-ASCII paths
    with quiet_opencv():  # a damaged file is reported below, in one line
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise SourceError(f"cannot read image {path}: not an image OpenCV can decode")
    if image.dtype == np.uint16:
        image = (image // 256).astype(np.uint8)  # the high byte
    elif image.dtype != np.uint8:
        raise SourceError(f"cannot read image {path}: {image.dtype} pixels are not supported (save it as 8-bit)")
    if image.ndim == 3 and image.shape[2] not in (3, 4):
        raise SourceError(f"cannot read image {path}: {image.shape[2]} channels (expected grey, RGB or RGBA)")
    return image


def read_label_map(path: str | os.PathLike, lut: np.ndarray | None = None) -> np.ndarray:
    """A single-channel label PNG as (H, W) uint8, optionally mapped through a 256-entry LUT."""
    problem = path_problem(path)
    if problem is not None:
        raise SourceError(f"label map: {problem}")
    with quiet_opencv():
        labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # label PNGs hold ids, not grey levels
    if labels is None:
        raise SourceError(f"cannot read label map {path}: not an image OpenCV can decode")
    if labels.ndim != 2:
        raise SourceError(f"label map {path} has {labels.shape[2]} channels: labels are single-channel class ids")
    if labels.dtype != np.uint8:  # as gun.data.segdata.read_label: 16-bit files are fine if their values fit
        if labels.dtype.kind not in "ui" or labels.min() < 0 or labels.max() > 255:
            raise SourceError(f"label map {path} is {labels.dtype} with values up to {labels.max()}: labels must be 8-bit class ids (0-255)")
        labels = labels.astype(np.uint8)
    return lut[labels] if lut is not None else labels


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
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
