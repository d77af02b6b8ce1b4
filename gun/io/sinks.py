"""VideoSink: an mp4 (and its CSV sidecar) that appears under its name only when complete and verified."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from gun.io.base import quiet_opencv
from gun.io.files import clean_stale_partials, commit, make_parents, partial_name, remove_empty, write_partial

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is 3.11+; annotations are strings here


class VideoSink:
    """Writes an mp4v .mp4 that appears under its name only when it is complete.

    Frames go to a partial file next to the target. On a clean exit of the `with` block the file
    is fsynced and re-opened: unless it decodes with exactly the frames written (a full disk
    leaves a file that does not), it is an OSError and nothing appears. Then it is renamed into
    place. On an exception or after `cancel()` the partial file is deleted, so the target name
    never holds half a video; partials of an earlier, killed export of the same target are
    removed on entry. Optionally writes a per-frame CSV sidecar (`rows`) the same way.

        with VideoSink("out.mp4", fps=10, size=(768, 576)) as sink:
            sink.write(rgb_frame, {"frame": 0, "inference_ms": 12.3})
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int],
                 sidecar: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"VideoSink writes .mp4 files, got {self.path.name}")
        self.fps = float(fps) if fps and 0 < fps < 1000 else 25.0
        self.size = (int(size[0]), int(size[1]))  # (width, height) of the frames given to write()
        if min(self.size) < 1:
            raise ValueError(f"cannot write {self.size[0]}x{self.size[1]} frames")
        # MPEG-4 needs even dimensions (FFmpeg would silently rescale): odd ones get one more
        # pixel, a copy of the last column or row
        self.encoded_size = (self.size[0] + self.size[0] % 2, self.size[1] + self.size[1] % 2)
        self.sidecar = Path(sidecar) if sidecar is not None else None
        self.frames_written = 0
        self._rows: list[dict] = []
        self._cancelled = False
        self._writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None
        self._made: list[Path] = []

    def __enter__(self) -> Self:
        if self.path.is_dir():
            raise IsADirectoryError(21, "is a folder: give a file name", str(self.path))
        if self.sidecar is not None and self.sidecar.is_dir():
            raise IsADirectoryError(21, "is a folder, so the CSV sidecar cannot be written", str(self.sidecar))
        self._made = make_parents(self.path)  # removed again if nothing is written
        clean_stale_partials(self.path)
        if self.sidecar is not None:
            clean_stale_partials(self.sidecar)
        self._tmp = partial_name(self.path)
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, self.encoded_size)
        if not self._writer.isOpened():
            self._discard()
            raise OSError(f"cannot write {self.path}: OpenCV's mp4v writer did not open for {self.encoded_size[0]}x{self.encoded_size[1]} frames")
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
        remove_empty(self._made)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None or self._cancelled or self.frames_written == 0:
            self._discard()
            if exc_type is None and not self._cancelled:
                raise ValueError(f"no frames were written: {self.path} not created")
            return
        assert self._writer is not None and self._tmp is not None
        self._writer.release()
        self._writer = None
        side_tmp: Path | None = None
        done = False
        try:
            with open(self._tmp, "rb+") as f:
                os.fsync(f.fileno())
            verify_video(self._tmp, self.frames_written, self.path)
            if self.sidecar is not None:
                side_tmp = write_partial(self.sidecar, lambda tmp: _write_csv(tmp, self._rows))
            commit(self._tmp, self.path)
            if side_tmp is not None:
                try:
                    commit(side_tmp, self.sidecar)  # type: ignore[arg-type]
                except BaseException:
                    self.path.unlink(missing_ok=True)  # no video without its sidecar
                    raise
            done = True
        finally:
            for tmp in (self._tmp, side_tmp):
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
            self._tmp = None
            if not done:
                remove_empty(self._made)


def verify_video(path: Path, frames: int, target: Path | None = None) -> None:
    """Raise OSError unless `path` opens as a video of exactly `frames` frames whose last one decodes."""
    name = target or path
    with quiet_opencv():
        cap = cv2.VideoCapture(str(path))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        ok = count == frames
        if ok and frames > 1:
            ok = cap.set(cv2.CAP_PROP_POS_FRAMES, frames - 1)
        ok = ok and cap.read()[0]
    finally:
        cap.release()
    if not ok:
        raise OSError(f"writing {name} failed: the written file does not read back ({count} of {frames} frames); "
                      f"is the disk full? nothing was written under that name")


def _write_csv(path: str, rows: list[dict]) -> None:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
