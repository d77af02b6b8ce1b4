"""The worker: owns the frame source and the Segmenter, runs in its own QThread, emits numpy.

Pipeline: a gun.io.video.Prefetcher thread decodes ahead, this worker thread segments, the GUI
thread draws. At most two results are in flight towards the GUI (it calls `frame_shown()` after
drawing one), so a slow screen slows the worker instead of piling up frames; a live camera's
prefetcher keeps only its newest frame, so old frames are dropped rather than queued.

Widgets call the public methods below from the GUI thread; each one emits a private signal that
runs the work in the worker's thread. Every failure becomes a `failed(message)` signal: the
window shows it, nothing crashes or hangs. torch is imported here (through gun.runtime.segmenter) on first
use, never by the widgets.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from gun.io.video import Frame, FrameSource, Prefetcher, camera_index, open_source
from gun.render.annotate import ViewSettings
from gun.runtime.result import FrameResult

MAX_IN_FLIGHT = 2  # results emitted but not yet drawn by the GUI


@dataclass
class FrameBundle:
    """One processed frame for the GUI."""

    frame: Frame
    result: FrameResult | None  # None while no model is loaded: the plain frame is shown
    timings: dict[str, float]  # ms: decode + the Segmenter's stages
    scores: dict[str, float]  # per-frame and running mIoU of both decoders, when ground truth exists
    frame_count: int | None
    dropped: int  # frames a live source dropped so far because the model was busy
    trimap: dict | None = None  # running band mIoU {"bands", "gum", "bilinear"} with ground truth


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


@dataclass
class SourceInfo:
    spec: str
    name: str
    frame_count: int | None
    fps: float | None
    live: bool
    seekable: bool


@dataclass
class ExportJob:
    path: str
    view: ViewSettings
    frames: int | None = None  # None = the whole source
    sidecar: bool = True


class Worker(QObject):
    # results, to the GUI
    frameReady = Signal(object)  # FrameBundle
    modelLoaded = Signal(object)  # ModelInfo
    sourceOpened = Signal(object)  # SourceInfo
    playingChanged = Signal(bool)
    ended = Signal()  # the source has no more frames (and does not loop)
    failed = Signal(str)  # one-line error message
    stalled = Signal()  # after a failure that leaves nothing playing (no source, or it broke)
    exportProgress = Signal(int, int)  # (done, total)
    exportFinished = Signal(bool, str)  # (written, message)

    # requests, from the GUI thread (private: use the methods)
    _open = Signal(object)
    _load = Signal(str, str, str)
    _device = Signal(str, str)
    _play = Signal(bool)
    _step = Signal(int)
    _seek = Signal(int)
    _export = Signal(object)
    _shutdown = Signal()
    _set_loop = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self._segmenter = None  # gun.runtime.segmenter.Segmenter, created in the worker thread
        self._source: FrameSource | None = None
        self._spec = ""
        self._reader: Prefetcher | None = None
        self._last: Frame | None = None
        self._playing = False
        self._loop = True
        self._next_due = 0.0
        self._timer: QTimer | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._cancel_export = threading.Event()
        self._scores = None  # gun.runtime.clip.RunningScores
        self.frames_processed = 0
        for signal, slot in ((self._open, self._do_open), (self._load, self._do_load), (self._device, self._do_device),
                             (self._play, self._do_play), (self._step, self._do_step), (self._seek, self._do_seek),
                             (self._export, self._do_export), (self._shutdown, self._do_shutdown),
                             (self._set_loop, self._do_set_loop)):
            signal.connect(slot)

    # -- public API (any thread) ------------------------------------------------------------------
    def open_source(self, spec: str | FrameSource) -> None:
        """Open a source spec (path, "camera:N") or an already built FrameSource."""
        self._open.emit(spec)

    def load_weights(self, path: str, device: str = "auto", dtype: str = "float32") -> None:
        self._load.emit(str(path), device, dtype)

    def set_device(self, device: str, dtype: str) -> None:
        self._device.emit(device, dtype)

    def play(self, playing: bool = True) -> None:
        self._play.emit(playing)

    def step(self, delta: int) -> None:
        """Pause and move `delta` frames (negative: back; seekable sources only)."""
        self._step.emit(delta)

    def seek(self, index: int) -> None:
        self._seek.emit(index)

    def set_loop(self, loop: bool) -> None:
        self._set_loop.emit(loop)

    def export(self, job: ExportJob) -> None:
        self._cancel_export.clear()
        self._export.emit(job)

    def cancel_export(self) -> None:
        self._cancel_export.set()  # read by the export loop in the worker thread

    def frame_shown(self) -> None:
        """The GUI drew a FrameBundle: room for the next one."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def shutdown(self) -> None:
        """Stop everything; the thread quits once the current frame is done."""
        self._cancel_export.set()
        self._shutdown.emit()

    # -- worker thread ----------------------------------------------------------------------------
    def _schedule(self, ms: float) -> None:
        if self._timer is None:
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self._tick)
        self._timer.start(max(0, int(ms)))

    def _fail(self, message: str) -> None:
        self.failed.emit(message.splitlines()[0] if message else "unknown error")

    def _set_playing(self, playing: bool) -> None:
        if playing != self._playing:
            self._playing = playing
            self.playingChanged.emit(playing)
        if playing:
            self._next_due = time.perf_counter()
            self._schedule(0)

    def _close_source(self) -> None:
        if self._reader is not None:
            self._reader.stop()
            self._reader = None
        if self._source is not None:
            self._source.close()
            self._source = None

    @Slot(object)
    def _do_open(self, spec: object) -> None:
        try:
            if isinstance(spec, str) and spec == self._spec and camera_index(spec) is not None:
                self._close_source()  # the same camera cannot be opened twice
            source = spec if isinstance(spec, FrameSource) else open_source(str(spec))
        except Exception as error:  # noqa: BLE001 - any failure is a message, the old source keeps playing
            self._fail(str(error))
            if self._source is None:
                self.stalled.emit()
            return
        self._close_source()
        self._source, self._spec = source, spec if isinstance(spec, str) else source.name
        self._reader = Prefetcher(source).start()
        self._last = None
        if self._scores is not None:
            self._scores.reset()
        self.sourceOpened.emit(SourceInfo(self._spec, source.name, source.frame_count, source.fps, source.live,
                                          source.seekable))
        self._set_playing(True)

    @Slot(str, str, str)
    def _do_load(self, path: str, device: str, dtype: str) -> None:
        try:
            _leave_a_core_for_the_gui()
            from gun.runtime.segmenter import Segmenter

            if not Path(path).is_file():
                raise FileNotFoundError(f"weights {path} not found: train them (see README) or drop a .safetensors file here")
            segmenter = Segmenter.from_checkpoint(path, device, dtype)
        except Exception as error:  # noqa: BLE001 - the previous model (if any) stays
            self._fail(f"cannot load weights: {error}")
            return
        self._segmenter = segmenter
        from gun.metrics.running import RunningScores

        self._scores = RunningScores(len(segmenter.class_names))
        self.modelLoaded.emit(self._model_info())
        self._redo_last()

    @Slot(str, str)
    def _do_device(self, device: str, dtype: str) -> None:
        if self._segmenter is None:
            return
        previous = (self._segmenter.device, self._segmenter.dtype)
        try:
            self._segmenter.to(device, dtype)
        except Exception as error:  # noqa: BLE001
            self._segmenter.to(*previous)
            self._fail(f"cannot switch to {device} {dtype}: {error}")
        self.modelLoaded.emit(self._model_info())
        self._redo_last()

    def _model_info(self) -> ModelInfo:
        import torch

        seg = self._segmenter
        return ModelInfo(
            path=str(seg.path), description=seg.description, class_names=tuple(seg.class_names),
            palette=tuple(tuple(c) for c in seg.palette), has_guidance=seg.has_guidance, device=seg.device.type,
            dtype=str(seg.dtype).replace("torch.", ""), cuda_available=torch.cuda.is_available(),
            metrics=dict(seg.meta.metrics), dataset=seg.meta.dataset,
        )

    def _redo_last(self) -> None:
        """Show the current frame again with the new model, when paused (playing shows the next one)."""
        if not self._playing and self._last is not None:
            self._process(self._last, 0.0)

    @Slot(bool)
    def _do_play(self, playing: bool) -> None:
        if playing and self._reader is None:
            return
        self._set_playing(playing)

    @Slot(bool)
    def _do_set_loop(self, loop: bool) -> None:
        self._loop = loop

    @Slot(int)
    def _do_step(self, delta: int) -> None:
        self._set_playing(False)
        if self._reader is None or delta == 0:
            return
        if delta != 1:
            if not self._source.seekable:
                return
            current = self._last.index if self._last is not None else 0
            self._reader.seek(max(0, current + delta))
        self._show_next(timeout=10.0)

    @Slot(int)
    def _do_seek(self, index: int) -> None:
        if self._reader is None or not self._source.seekable:
            return
        try:
            self._reader.seek(index)
        except Exception as error:  # noqa: BLE001
            self._fail(str(error))
            return
        if not self._playing:
            self._show_next(timeout=10.0)

    def _show_next(self, timeout: float) -> None:
        try:
            item = self._reader.get(timeout=timeout)
        except Exception as error:  # noqa: BLE001 - source errors, or nothing decoded in time
            self._fail(str(error) or "no frame decoded in time")
            return
        if item is not None:
            self._process(*item)

    @Slot()
    def _tick(self) -> None:
        if not self._playing or self._reader is None:
            return
        with self._lock:
            busy = self._in_flight >= MAX_IN_FLIGHT
        if busy:
            self._schedule(5)  # the GUI is behind: wait for it
            return
        try:
            item = self._reader.get(timeout=0.005)
        except queue.Empty:
            self._schedule(1)  # decoding is behind
            return
        except Exception as error:  # noqa: BLE001 - the source broke mid-stream (camera unplugged, bad file)
            self._set_playing(False)
            self._fail(str(error))
            self.stalled.emit()
            return
        if item is None:
            self._at_end()
            return
        self._process(*item)
        if self._source is not None and not self._source.live and self._source.fps:
            # play files no faster than their frame rate (slower when the model cannot keep up)
            self._next_due = max(self._next_due + 1.0 / self._source.fps, time.perf_counter() - 0.5)
            self._schedule((self._next_due - time.perf_counter()) * 1e3)
        else:
            self._schedule(0)

    def _at_end(self) -> None:
        source = self._source
        if self._loop and source is not None and source.seekable and (source.frame_count or 0) > 1:
            self._reader.seek(0)
            self._schedule(0)
            return
        self._set_playing(False)
        self.ended.emit()

    def _process(self, frame: Frame, decode_ms: float) -> None:
        timings = {"decode": decode_ms}
        result, scores, trimap = None, {}, None
        if self._segmenter is not None:
            try:
                result = self._segmenter(frame.image)
            except Exception as error:  # noqa: BLE001 - e.g. out of memory on a huge frame
                self._set_playing(False)
                self._fail(f"inference failed: {error}")
                return
            result.ground_truth = frame.labels
            timings.update(result.timings)
            scores = self._scores.update(result) if self._scores is not None else {}
            if scores:
                trimap = {"bands": self._scores.bands, **self._scores.trimap()}
            elif frame.labels is not None and self._scores is not None and self._scores.mismatch:
                self._scores.mismatch = False
                self._fail(f"the ground truth has classes the model does not know ({len(self._segmenter.class_names)} "
                           "classes): not scored")
        self._last = frame
        self.frames_processed += 1
        with self._lock:
            self._in_flight += 1
        self.frameReady.emit(FrameBundle(frame, result, timings, scores, self._source.frame_count if self._source else None,
                                         self._reader.dropped if self._reader else 0, trimap))

    @Slot(object)
    def _do_export(self, job: ExportJob) -> None:
        from gun.runtime.clip import export_video

        was_playing = self._playing
        self._set_playing(False)
        source = None
        try:
            if self._segmenter is None:
                raise RuntimeError("load weights before exporting")
            if self._source is None:
                raise RuntimeError("open a video, image or camera before exporting")
            if self._source.live:
                self._reader.stop()  # the camera cannot be opened twice: export from it directly
                source = self._source
            else:
                source = open_source(self._spec)
            report = export_video(source, self._segmenter, job.path, job.view, self._segmenter.class_names,
                                  self._segmenter.palette, frames=job.frames, sidecar=job.sidecar,
                                  progress=self.exportProgress.emit, cancel=self._cancel_export)
        except Exception as error:  # noqa: BLE001 - nothing is left on disk (VideoSink)
            self.exportFinished.emit(False, f"export failed: {str(error).splitlines()[0]}")
        else:
            if report.cancelled:
                self.exportFinished.emit(False, "export cancelled: no file written")
            else:
                extra = f" (+ {Path(report.sidecar).name})" if report.sidecar else ""
                self.exportFinished.emit(True, f"exported {report.frames} frames to {report.path}{extra}")
        finally:
            if source is not None and source is not self._source:
                source.close()
            elif source is not None and self._reader is not None:
                self._reader.start()
            if was_playing:
                self._set_playing(True)

    @Slot()
    def _do_shutdown(self) -> None:
        self._playing = False
        if self._timer is not None:
            self._timer.stop()
        self._close_source()
        self._segmenter = None
        QThread.currentThread().quit()


def _leave_a_core_for_the_gui() -> None:
    """Run torch on all cores but one (unless OMP_NUM_THREADS says otherwise).

    Decoding and drawing run beside inference. When torch's threads want every core and another
    thread takes one, its OpenMP barriers wait for a descheduled thread: on 2 cores with other
    processes busy, a 768x576 frame took 2.8 s with 2 torch threads and 0.45 s with 1.
    """
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


class WorkerThread:
    """A Worker moved to its own QThread; `stop()` waits for it to finish."""

    def __init__(self) -> None:
        self.thread = QThread()
        self.thread.setObjectName("segmentation worker")
        self.worker = Worker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self, timeout_ms: int = 30000) -> bool:
        if not self.thread.isRunning():
            return True
        self.worker.shutdown()
        return self.thread.wait(timeout_ms)
