"""Playback: the open frame source, its prefetch thread and the pace frames are due at.

No Qt and no model here: the worker (app.worker) asks `next_frame()` when its timer fires, and
`delay_ms()` for when to ask again. Videos play no faster than their frame rate (slower when the
model cannot keep up) unless `paced` is off; cameras as fast as frames come; at the end a seekable
source loops.
"""

from __future__ import annotations

import queue
import time

from app.messages import SourceInfo
from gun.io.base import Frame, FrameSource
from gun.io.prefetch import Prefetcher
from gun.io.sources import camera_index, open_source

Item = tuple[Frame, float]  # (frame, decode ms)


class Playback:
    def __init__(self) -> None:
        self.source: FrameSource | None = None
        self.spec = ""
        self.reader: Prefetcher | None = None
        self.last: Frame | None = None  # the frame shown last (redrawn when the model changes)
        self.loop = True
        self.paced = True  # False: videos as fast as frames are segmented (the app's "Full speed")
        self._due = 0.0

    # -- opening and closing ----------------------------------------------------------------------
    def open(self, spec: str | FrameSource) -> SourceInfo:
        """Open a spec (path, "camera:N") or take a built FrameSource; the old one keeps playing
        when this fails (the error propagates)."""
        if isinstance(spec, str) and spec == self.spec and camera_index(spec) is not None:
            self.close()  # the same camera cannot be opened twice
        source = spec if isinstance(spec, FrameSource) else open_source(str(spec))
        self.close()
        self.source, self.spec = source, spec if isinstance(spec, str) else source.name
        self.reader = Prefetcher(source).start()
        self.last = None
        return self.info()

    def info(self) -> SourceInfo:
        s = self.source
        assert s is not None
        return SourceInfo(self.spec, s.name, s.frame_count, s.fps, s.live, s.seekable)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.stop()
            self.reader = None
        if self.source is not None:
            self.source.close()
            self.source = None

    @property
    def is_open(self) -> bool:
        return self.reader is not None

    # -- frames -----------------------------------------------------------------------------------
    def start_clock(self) -> None:
        self._due = time.perf_counter()

    def poll(self) -> Item | None:
        """The next frame if one is decoded (raises queue.Empty when decoding is behind, the
        source's error when it broke); None at the end of a source that does not loop."""
        assert self.reader is not None
        item = self.reader.get(timeout=0.005)
        if item is None and self._can_loop():
            self.reader.seek(0)
            raise queue.Empty  # the first frame follows shortly
        return item

    def wait(self, timeout: float = 10.0) -> Item | None:
        """The next frame, waiting up to `timeout` s (for steps and seeks while paused); a step
        past the last frame wraps to the first, as playback does, unless looping is off."""
        assert self.reader is not None
        item = self.reader.get(timeout=timeout)
        if item is None and self._can_loop():
            self.reader.seek(0)
            item = self.reader.get(timeout=timeout)
        return item

    def _can_loop(self) -> bool:
        s = self.source
        return self.loop and s is not None and s.seekable and (s.frame_count or 0) > 1

    def delay_ms(self) -> float:
        """How long to wait before the next frame is due."""
        s = self.source
        if s is None or s.live or not s.fps or not self.paced:
            return 0.0
        now = time.perf_counter()
        self._due = max(self._due + 1.0 / s.fps, now - 0.5)  # never catch up more than half a second
        return (self._due - now) * 1e3

    def seek(self, index: int) -> bool:
        """Move to frame `index`; False when the source cannot seek."""
        if self.reader is None or self.source is None or not self.source.seekable:
            return False
        self.reader.seek(max(0, index))
        return True

    def step_target(self, delta: int) -> int | None:
        """The index `delta` frames from the shown one, or None when the source cannot go there."""
        if self.source is None or (delta != 1 and not self.source.seekable):
            return None
        current = self.last.index if self.last is not None else -1
        return max(0, current + delta)

    @property
    def dropped(self) -> int:
        return self.reader.dropped if self.reader is not None else 0
