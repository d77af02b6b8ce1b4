"""The worker: owns the models (the GUN and its bilinear twin) and the playback, runs in its own
QThread, emits numpy.

Pipeline: a gun.io.prefetch.Prefetcher thread decodes ahead (app.playback), this worker thread
segments, the GUI thread draws. While the network runs it has both cores; while the worker
decodes its output a helper thread uses the other core: app.scoring's computes the ground truth's
rings of a labelled frame, else the Segmenter's takes a share of the decoding. At most two results are in flight towards the GUI (it calls
`frame_shown()` after drawing one), so a slow screen slows the worker instead of piling up frames;
a live camera's prefetcher keeps only its newest frame, so old frames are dropped, not queued.

Widgets call the public methods below from the GUI thread; each one emits a private signal that
runs the work in the worker's thread. Every failure becomes `failed(topic, message)` (topics in
app.messages): the window shows it, nothing crashes or hangs. torch is imported here (through
gun.runtime.segmenter) on first use, never by the widgets.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from app.messages import MODEL, SCORE, SOURCE, ExportJob, FrameBundle, ModelInfo, twin_path
from app.playback import Playback
from app.scoring import LiveScores
from gun.io.base import Frame, FrameSource

MAX_IN_FLIGHT = 2  # results emitted but not yet drawn by the GUI

__all__ = ["ExportJob", "FrameBundle", "ModelInfo", "Worker", "WorkerThread"]


class Worker(QObject):
    # results, to the GUI
    frameReady = Signal(object)  # FrameBundle
    modelLoaded = Signal(object)  # ModelInfo
    sourceOpened = Signal(object)  # app.messages.SourceInfo
    playingChanged = Signal(bool)
    ended = Signal()  # the source has no more frames (and does not loop)
    failed = Signal(str, str)  # (topic, one-line error message)
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
    _set_playback = Signal(bool, bool)
    _show = Signal(bool, bool)

    def __init__(self) -> None:
        super().__init__()
        self._segmenter = None  # gun.runtime.segmenter.Segmenter, created in the worker thread
        self._twin = None  # the bilinear twin's Segmenter, when it sits beside the weights
        self._twin_shown = False  # the twin runs only while shown: a second network halves the frame rate
        self._bilinear_shown = False  # the GUN's bilinear labels: 4-10 ms a frame on a CPU
        self._wanted = ""  # weights asked for last: a device switch retries them after a failed load
        self.playback = Playback()
        self._playing = False
        self._timer: QTimer | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._cancel_export = threading.Event()
        self._scores: LiveScores | None = None
        self.frames_processed = 0
        for signal, slot in ((self._open, self._do_open), (self._load, self._do_load), (self._device, self._do_device),
                             (self._play, self._do_play), (self._step, self._do_step), (self._seek, self._do_seek),
                             (self._export, self._do_export), (self._shutdown, self._do_shutdown),
                             (self._set_playback, self._do_set_playback), (self._show, self._do_show)):
            signal.connect(slot)

    # -- public API (any thread) ------------------------------------------------------------------
    def open_source(self, spec: str | FrameSource) -> None:
        """Open a source spec (path, "camera:N") or an already built FrameSource."""
        self._open.emit(spec)

    def load_weights(self, path: str, device: str = "auto", dtype: str = "auto") -> None:
        """Load a checkpoint, and its bilinear twin when one sits beside it (app.messages.twin_path)."""
        self._load.emit(str(path), device, dtype)

    def set_device(self, device: str, dtype: str) -> None:
        """Move the models; after a failed load (say, CUDA absent) this loads them on `device`."""
        self._device.emit(device, dtype)

    def play(self, playing: bool = True) -> None:
        self._play.emit(playing)

    def step(self, delta: int) -> None:
        """Pause and move `delta` frames (negative: back; seekable sources only)."""
        self._step.emit(delta)

    def seek(self, index: int) -> None:
        self._seek.emit(index)

    def set_playback(self, loop: bool, paced: bool) -> None:
        """Whether videos restart at their end, and play at their frame rate (paced) or as fast as
        frames are segmented."""
        self._set_playback.emit(loop, paced)

    def show(self, twin: bool, bilinear: bool) -> None:
        """What the views show besides the GUM: the bilinear twin (side by side), run beside the
        GUN only then, and the GUN's own bilinear decoding, decoded only then or to score."""
        self._show.emit(twin, bilinear)

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

    def _fail(self, topic: str, message: str) -> None:
        self.failed.emit(topic, message.splitlines()[0] if message else "unknown error")

    def _set_playing(self, playing: bool) -> None:
        if playing != self._playing:
            self._playing = playing
            self.playingChanged.emit(playing)
        if playing:
            self.playback.start_clock()
            self._schedule(0)

    @Slot(object)
    def _do_open(self, spec: object) -> None:
        try:
            info = self.playback.open(spec)  # type: ignore[arg-type]
        except Exception as error:  # noqa: BLE001 - any failure is a message, the old source keeps playing
            self._fail(SOURCE, str(error))
            if not self.playback.is_open:
                self.stalled.emit()
            return
        if self._scores is not None:
            self._scores.reset()
        self.sourceOpened.emit(info)
        self._set_playing(True)

    @Slot(str, str, str)
    def _do_load(self, path: str, device: str, dtype: str) -> None:
        self._wanted = path
        try:
            from gun.runtime.device import leave_a_core_free
            from gun.runtime.segmenter import Segmenter

            leave_a_core_free()  # torch's threads: one core is the GUI's (OpenVINO keeps them all)
            if not Path(path).is_file():
                raise FileNotFoundError(f"weights {path} not found: train them (see README) or drop a .safetensors file here")
            segmenter = Segmenter.from_checkpoint(path, device, dtype)
            twin_file = twin_path(path) if segmenter.has_guidance else None
            twin = Segmenter.from_checkpoint(twin_file, device, dtype) if twin_file is not None else None
        except Exception as error:  # noqa: BLE001 - the previous model (if any) stays
            self._fail(MODEL, f"cannot load weights: {error}")
            return
        if twin is not None and twin.class_names != segmenter.class_names:
            self._fail(SCORE, f"{twin_file.name} has other classes than {Path(path).name}: not shown beside it")
            twin = None
        self._segmenter, self._twin = segmenter, twin
        if self._scores is not None:
            self._scores.close()
        self._scores = LiveScores(len(segmenter.class_names), twin is not None)
        self.modelLoaded.emit(self._model_info())
        self._redo_last()

    @Slot(str, str)
    def _do_device(self, device: str, dtype: str) -> None:
        if self._segmenter is None:
            if self._wanted:  # the load failed (e.g. --device cuda without CUDA): retry on the new device
                self._do_load(self._wanted, device, dtype)
            return
        models = [m for m in (self._segmenter, self._twin) if m is not None]
        previous = (self._segmenter.device, self._segmenter.dtype)
        try:
            for model in models:
                model.to(device, dtype)
        except Exception as error:  # noqa: BLE001
            for model in models:
                model.to(*previous)
            self._fail(MODEL, f"cannot switch to {device} {dtype}: {error}")
        self.modelLoaded.emit(self._model_info())
        self._redo_last()

    def _model_info(self) -> ModelInfo:
        from gun.runtime.device import cuda_available

        seg = self._segmenter
        return ModelInfo(
            path=str(seg.path), description=seg.description, class_names=tuple(seg.class_names),
            palette=tuple(tuple(c) for c in seg.palette), has_guidance=seg.has_guidance, device=seg.device.type,
            dtype=str(seg.dtype).replace("torch.", ""), cuda_available=cuda_available(),
            metrics=dict(seg.meta.metrics), dataset=seg.meta.dataset,
            twin=self._twin.description if self._twin is not None else "",
        )

    def _redo_last(self) -> None:
        """Show the current frame again with the new model, when paused (playing shows the next one)."""
        if not self._playing and self.playback.last is not None:
            self._process(self.playback.last, 0.0)

    @Slot(bool)
    def _do_play(self, playing: bool) -> None:
        if playing and not self.playback.is_open:
            return
        self._set_playing(playing)

    @Slot(bool, bool)
    def _do_set_playback(self, loop: bool, paced: bool) -> None:
        if paced != self.playback.paced:
            self.playback.start_clock()  # the pace counts from now, with no frames to catch up
        self.playback.loop, self.playback.paced = loop, paced

    @Slot(bool, bool)
    def _do_show(self, twin: bool, bilinear: bool) -> None:
        more = (twin and not self._twin_shown and self._twin is not None) or (bilinear and not self._bilinear_shown)
        self._twin_shown, self._bilinear_shown = twin, bilinear
        if more:
            self._redo_last()  # a paused frame gets its new panels now

    @Slot(int)
    def _do_step(self, delta: int) -> None:
        self._set_playing(False)
        target = self.playback.step_target(delta) if delta else None
        if target is None or not self.playback.is_open:
            return
        if delta != 1 and not self._seek_to(target):
            return
        self._show_next()

    @Slot(int)
    def _do_seek(self, index: int) -> None:
        if self._seek_to(index) and not self._playing:
            self._show_next()

    def _seek_to(self, index: int) -> bool:
        try:
            return self.playback.seek(index)
        except Exception as error:  # noqa: BLE001
            self._fail(SOURCE, str(error))
            return False

    def _show_next(self) -> None:
        try:
            item = self.playback.wait(timeout=10.0)
        except Exception as error:  # noqa: BLE001 - source errors, or nothing decoded in time
            self._fail(SOURCE, str(error) or "no frame decoded in time")
            return
        if item is not None:
            self._process(*item)

    @Slot()
    def _tick(self) -> None:
        if not self._playing or not self.playback.is_open:
            return
        with self._lock:
            busy = self._in_flight >= MAX_IN_FLIGHT
        if busy:
            self._schedule(5)  # the GUI is behind: wait for it
            return
        try:
            item = self.playback.poll()
        except queue.Empty:
            self._schedule(1)  # decoding is behind
            return
        except Exception as error:  # noqa: BLE001 - the source broke mid-stream (camera unplugged, bad file)
            self._set_playing(False)
            self._fail(SOURCE, str(error))
            self.stalled.emit()
            return
        if item is None:
            self._set_playing(False)
            self.ended.emit()
            return
        self._process(*item)
        self._schedule(self.playback.delay_ms())

    def _process(self, frame: Frame, decode_ms: float) -> None:
        timings = {"decode": decode_ms}
        result, twin, scores, trimap = None, None, {}, None
        if self._segmenter is not None:
            try:
                inferred = self._segmenter.infer(frame.image)
                rings = self._scores.start(frame) if self._scores is not None else None
                result = self._segmenter.decode(inferred, beside=rings is None,  # else the rings have the other core
                                                bilinear=self._bilinear_shown or frame.labels is not None)
                twin = self._twin(frame.image) if self._twin is not None and self._twin_shown else None
            except Exception as error:  # noqa: BLE001 - e.g. out of memory on a huge frame
                self._set_playing(False)
                self._fail(MODEL, f"inference failed: {error}")
                return
            timings.update(result.timings)
            if twin is not None:
                timings["twin"] = sum(twin.timings.values())
            if self._scores is not None:
                started = time.perf_counter()
                try:
                    scores, trimap, problem = self._scores.score(frame, result, twin, rings)
                except Exception as error:  # noqa: BLE001 - e.g. out of memory: the frame is still shown
                    problem = f"cannot score this frame: {error}"
                timings["score"] = (time.perf_counter() - started) * 1e3
                if problem:
                    self._fail(SCORE, problem)
        self.playback.last = frame
        self.frames_processed += 1
        with self._lock:
            self._in_flight += 1
        source = self.playback.source
        self.frameReady.emit(FrameBundle(frame, result, timings, scores, source.frame_count if source else None,
                                         self.playback.dropped, trimap, twin, self._playing))

    @Slot(object)
    def _do_export(self, job: ExportJob) -> None:
        from gun.io.sources import open_source
        from gun.runtime.clip import export_video

        was_playing = self._playing
        self._set_playing(False)
        playback, source = self.playback, None
        try:
            if self._segmenter is None:
                raise RuntimeError("load weights before exporting")
            if playback.source is None:
                raise RuntimeError("open a video, image or camera before exporting")
            if playback.source.live:
                playback.reader.stop()  # the camera cannot be opened twice: export from it directly
                source = playback.source
            else:
                source = open_source(playback.spec)
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
                self.exportFinished.emit(True, f"exported {report.frames} frames to {Path(report.path).resolve()}{extra}")
        finally:
            if source is not None and source is not playback.source:
                source.close()
            elif source is not None and playback.reader is not None:
                playback.reader.start()
            if was_playing:
                self._set_playing(True)

    @Slot()
    def _do_shutdown(self) -> None:
        self._playing = False
        if self._timer is not None:
            self._timer.stop()
        self.playback.close()
        self._segmenter = self._twin = None
        if self._scores is not None:
            self._scores.close()
        QThread.currentThread().quit()


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
