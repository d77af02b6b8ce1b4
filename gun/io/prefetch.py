"""Prefetcher: reads a frame source on a background thread so that decoding overlaps inference.

Every wait is bounded: `stop()` joins the reader for at most `join_timeout` seconds and says
whether it ended, so a camera blocked in a driver call cannot hang the exit (the thread is a
daemon and is left to die with the process).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time

from gun.io.base import Frame, FrameSource


class Prefetcher:
    """Keeps up to `depth` frames ready. For live sources only the newest frame is kept: a frame that
    waited while the model was busy is stale, so it is dropped (and counted in `dropped`).
    Each item is (frame, decode_ms); errors of the source re-raise in `get()`.
    """

    _END = object()

    def __init__(self, source: FrameSource, depth: int = 3, join_timeout: float = 2.0) -> None:
        self.source = source
        self.dropped = 0
        self.join_timeout = join_timeout
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

    def stop(self) -> bool:
        """Stop the reading thread and discard what it read (the source stays open).

        Returns False when the thread did not end within `join_timeout` (a read blocked in the
        driver); it is then abandoned, as a daemon, instead of hanging the caller."""
        self._stop.set()
        ended = True
        if self._thread is not None:
            self._thread.join(self.join_timeout)
            ended = not self._thread.is_alive()
            self._thread = None
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        return ended

    def seek(self, index: int) -> None:
        if not self.stop():
            from gun.io.base import SourceError

            raise SourceError(f"{self.source.name} did not answer within {self.join_timeout:g} s: reopen it")
        self.source.seek(index)
        self.start()
