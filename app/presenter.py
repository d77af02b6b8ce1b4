"""The presenter: what the window's widgets do. It turns user commands into worker requests and
the worker's messages (app.messages) into drawing, plots and one-line messages.

Messages: a failure shows in the red banner under its topic (source, model, score, action); the
next success of the same topic clears that line, and any success clears one-off failures (a bad
drop, a failed export), so the banner only ever shows what is still wrong.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, QTimer

from app.actions import sync_actions
from app.compose import compose, disagreement_key
from app.dialogs import ask_folder, ask_media, ask_weights, fill_camera_menu
from app.files import next_screenshot_path, screenshot_folder, sort_drop
from app.messages import ACTION, MODEL, SOURCE, FrameBundle, ModelInfo, SourceInfo
from app.state import AppState
from app.views.export import ExportDialog, ExportMemory
from gun.render.annotate import rendered_size, uses_bilinear

if TYPE_CHECKING:
    from app.window import MainWindow

SEEK_DEBOUNCE_MS = 40  # a dragged seek bar asks for the frame under it at most this often


class Presenter(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w, self.state, self.worker = window, window.state, window.worker
        self.bundle: FrameBundle | None = None
        self.model: ModelInfo | None = None
        self.source_info: SourceInfo | None = None
        self.last_render: np.ndarray | None = None
        self.frames_drawn = 0
        self.errors: dict[str, str] = {}  # topic -> what is wrong now
        self.closing = False
        self.export_memory = ExportMemory()
        self.export_dialog: ExportDialog | None = None
        self._drop_note = ""
        self._script_finished = False
        self._shown_at: deque[float] = deque(maxlen=11)
        self._probe_xy: tuple[int, int] | None = None
        self._seek_timer = QTimer(self)
        self._seek_timer.setSingleShot(True)
        self._seek_timer.setInterval(SEEK_DEBOUNCE_MS)
        self._seek_timer.timeout.connect(lambda: self.worker.seek(self.w.seek_slider.value()))

    def commands(self) -> dict[str, Callable[[], None]]:
        """What each action of app.actions.ACTIONS runs."""
        s, step = self.state, self.worker.step
        return {
            "open_file": self.open_file_dialog, "open_folder": self.open_folder_dialog,
            "open_weights": self.open_weights_dialog, "choose_camera": self.popup_camera_menu,
            "export": self.open_export_dialog, "screenshot": self.save_screenshot, "quit": self.w.close,
            "toggle_play": lambda: self.worker.play(not s.playing), "step_back": lambda: step(-1),
            "step_forward": lambda: step(1), "back_10": lambda: step(-10), "forward_10": lambda: step(10),
            "first_frame": lambda: self.worker.seek(0),
            "layout_side_by_side": lambda: self.toggle_layout("side-by-side"), "layout_wipe": lambda: self.toggle_layout("wipe"),
            "switch_decoder": lambda: setattr(s, "decoder", "bilinear" if s.decoder == "gum" else "gum"),
            "more_opacity": lambda: setattr(s, "alpha", round(min(1.0, s.alpha + 0.1), 2)),
            "less_opacity": lambda: setattr(s, "alpha", round(max(0.0, s.alpha - 0.1), 2)),
            "help": self.w.show_help,
        }

    def connect(self) -> None:
        w, worker = self.w, self.worker
        worker.frameReady.connect(self.on_frame)
        worker.modelLoaded.connect(self.on_model)
        worker.sourceOpened.connect(self.on_source)
        worker.playingChanged.connect(self.on_playing)
        worker.failed.connect(self.on_failed)
        worker.ended.connect(self.on_ended)
        worker.stalled.connect(self.finish_script)
        worker.exportFinished.connect(self.on_export_finished)
        self.state.changed.connect(self.on_state)
        w.canvas.pixelClicked.connect(self.probe)
        w.canvas.wipeDragged.connect(lambda f: setattr(self.state, "wipe", f))
        w.seek_slider.valueChanged.connect(lambda _: self._seek_timer.start())  # only the user's moves: see _update_position
        w.dismiss.clicked.connect(self.dismiss_banner)
        w.decoder_combo.currentTextChanged.connect(lambda t: setattr(self.state, "decoder", t))
        w.alpha_slider.valueChanged.connect(lambda v: setattr(self.state, "alpha", v / 100))
        w.camera_menu.aboutToShow.connect(lambda: fill_camera_menu(w.camera_menu, self.open_source))

    # -- messages -----------------------------------------------------------------------------------
    def fail(self, topic: str, message: str) -> None:
        self.errors.pop(topic, None)
        self.errors[topic] = message  # newest last
        self.state.say(message, error=True)
        self._show_banner()

    def succeed(self, topic: str, message: str) -> None:
        for cleared in {topic, ACTION}:
            self.errors.pop(cleared, None)
        self.state.say(message)
        self._show_banner()

    def dismiss_banner(self) -> None:
        self.errors.clear()
        self._show_banner()

    def _show_banner(self) -> None:
        self.w.banner.setText("\n".join(reversed(self.errors.values())))
        self.w.banner_row.setVisible(bool(self.errors))

    def script_error(self) -> str | None:
        """Why a scripted run (main.py --frames N) failed: its source or its weights, if still so."""
        return self.errors.get(SOURCE) or self.errors.get(MODEL)

    # -- user commands ------------------------------------------------------------------------------
    def open_source(self, spec) -> None:
        self.worker.open_source(spec)

    def load_weights(self, path: str) -> None:
        self.state.weights = str(path)
        self.w.model_label.setText(f"loading {Path(path).name}…")
        self.worker.load_weights(str(path), self.state.device, self.state.dtype)

    def toggle_layout(self, layout: str) -> None:
        self.state.layout = "single" if self.state.layout == layout else layout

    def drop(self, paths: list[str]) -> None:
        if not paths:
            self.fail(SOURCE, "only local files can be dropped: save it to disk first, then drop the file")
            return
        dropped = sort_drop(paths)
        if dropped.weights:
            self.load_weights(dropped.weights)
        if dropped.source:
            self._drop_note = dropped.note
            self.open_source(dropped.source)
        elif dropped.note:
            self.state.say(dropped.note)

    def open_file_dialog(self) -> None:
        if path := ask_media(self.w):
            self.open_source(path)

    def open_folder_dialog(self) -> None:
        if path := ask_folder(self.w):
            self.drop([path])  # a dataset root opens on its val split, as when dropped

    def open_weights_dialog(self) -> None:
        if path := ask_weights(self.w):
            self.load_weights(path)

    def popup_camera_menu(self) -> None:
        button = self.w.camera_button
        self.w.camera_menu.popup(button.mapToGlobal(button.rect().bottomLeft()))

    def seconds_per_frame(self) -> float | None:
        """What a frame cost while playing (model, twin and drawing), for the export estimate."""
        stats = self.w.performance.medians(skip=2)
        total = sum(v for k, v in stats.items() if k.endswith("_ms") and k not in ("decode_ms", "twin_ms") and np.isfinite(v))
        return total / 1e3 if total > 0 else None

    def open_export_dialog(self) -> ExportDialog:
        if self.export_dialog is not None and self.export_dialog.isVisible():
            return self.export_dialog
        info = self.source_info
        stem = Path(info.name).stem if info else "export"
        self.export_dialog = ExportDialog(self.worker, self.state.view(), self.export_memory, info.spec if info else "",
                                          stem, info.frame_count if info else None, self.seconds_per_frame(), self.w)
        self.export_dialog.show()
        return self.export_dialog

    def save_screenshot(self, path: str | None = None) -> str | None:
        """The current view at full resolution as PNG (default: Pictures/GUN/<source>-N.png); the
        message gives the absolute path."""
        image = self.w.canvas.image()
        if image is None:
            self.state.say("nothing to save yet: open a video, image or camera first")
            return None
        try:
            if path is None:
                stem = Path(self.source_info.name).stem if self.source_info else "gun"
                target = next_screenshot_path(screenshot_folder(), f"{stem}-frame{self.bundle.frame.index + 1}"
                                              if self.bundle else stem)
            else:
                target = Path(path).expanduser().resolve()
            saved = image.save(str(target))
        except OSError as error:
            saved, target = False, Path(path or screenshot_folder())
            self.fail(ACTION, f"cannot write a screenshot to {target}: {error.strerror or error}")
            return None
        if not saved:
            self.fail(ACTION, f"cannot write {target}: check the folder exists and is writable")
            return None
        self.succeed(ACTION, f"saved {target}")
        return str(target)

    # -- from the worker ----------------------------------------------------------------------------
    def on_model(self, info: ModelInfo) -> None:
        self.model = info
        s = self.state
        s.weights = info.path
        if tuple(info.class_names) != s.class_names:
            s.visible = ()
        s.class_names, s.palette = tuple(info.class_names), tuple(info.palette)
        twin = f"  +  twin {Path(info.twin.split(':')[0]).name}" if info.twin else ""
        self.w.model_label.setText(info.description + twin)
        self.w.model_label.setToolTip(f"dataset: {info.dataset or '?'}; metrics: {info.metrics}")
        self.w.device_combo.model().item(2).setEnabled(info.cuda_available)
        for combo, value in ((self.w.device_combo, info.device if s.device != "auto" else "auto"), (self.w.dtype_combo, info.dtype)):
            combo.blockSignals(True)
            combo.setCurrentText(value)
            combo.blockSignals(False)
        s.device = info.device if s.device != "auto" else "auto"
        s.dtype = info.dtype
        name = Path(info.path).name
        if not info.has_guidance:
            self.succeed(MODEL, f"{name} has no guidance module: GUM and bilinear views are the same")
        else:
            self.succeed(MODEL, f"loaded {name}" + (" and its bilinear twin (B runs it side by side)" if info.twin else ""))
        self._render()

    def on_source(self, info: SourceInfo) -> None:
        self.source_info = info
        self.state.source = info.spec
        self.w.performance.clear()
        self.w.miou.clear()
        self.w.meters.show_accuracy(False)
        self._shown_at.clear()
        self._probe_xy = None
        self.w.canvas.set_probe(None)
        self.w.inspector.show_probe(None, ())
        slider = self.w.seek_slider
        slider.blockSignals(True)
        slider.setEnabled(info.seekable and (info.frame_count or 0) > 1)
        slider.setRange(0, max((info.frame_count or 1) - 1, 0))
        slider.blockSignals(False)
        live = " (live)" if info.live else ""
        self.w.setWindowTitle(f"GUN: {info.name}{live}")
        note, self._drop_note = self._drop_note, ""
        self.succeed(SOURCE, f"playing {info.name}{live}" + (f" ({note})" if note else ""))

    def on_failed(self, topic: str, message: str) -> None:
        if topic == SOURCE and self._drop_note:
            message, self._drop_note = f"{message} ({self._drop_note})", ""
        self.fail(topic, message)
        if topic != MODEL:
            return
        # a failed load or device switch keeps the model that was there
        self.w.model_label.setText(self.model.description if self.model else "no model")
        if self.model is not None:
            self.state.weights = self.model.path
            self.state.dtype = self.model.dtype
            if self.state.device != "auto":
                self.state.device = self.model.device

    def on_playing(self, playing: bool) -> None:
        self.state.playing = playing
        self._shown_at.clear()  # a pause is not a slow frame
        if not playing:  # the plots show every frame drawn so far
            self.w.performance.redraws.flush()
            self.w.miou.redraws.flush()

    def on_ended(self) -> None:
        self.state.say("end of source")
        self.finish_script()

    def on_export_finished(self, ok: bool, message: str) -> None:
        if ok:
            self.succeed(ACTION, message)
        elif "cancelled" in message:
            self.state.say(message)
        else:
            self.fail(ACTION, message)

    def finish_script(self) -> None:
        if self.w.frames_limit is not None and not self._script_finished:
            self._script_finished = True
            self.w.performance.redraws.flush()  # the screenshot shows every frame drawn
            self.w.miou.redraws.flush()
            QTimer.singleShot(0, self.w.framesLimitReached.emit)

    def on_frame(self, bundle: FrameBundle) -> None:
        try:
            limit = self.w.frames_limit
            if self.closing or (limit is not None and self.frames_drawn >= limit):
                return
            self.bundle = bundle
            still = self.source_info is not None and self.source_info.still
            fps = None
            if bundle.playing and not still:
                # frames per second over the last few frames (an average of 1/interval would overrate
                # bursts: two results that waited while the GUI was busy arrive back to back)
                self._shown_at.append(time.perf_counter())
                if len(self._shown_at) > 1:
                    fps = (len(self._shown_at) - 1) / max(self._shown_at[-1] - self._shown_at[0], 1e-6)
            else:
                self._shown_at.clear()
            render_ms = self._render()
            status = "still image" if still else ("paused" if not bundle.playing else "starting")
            held = not self.state.full_speed and self.source_info is not None and self.source_info.holds_back(fps)
            self.w.performance.add(fps, {**bundle.timings, "render": render_ms}, status, held)
            if bundle.scores:
                self.w.meters.show_accuracy(True)
                self.w.miou.add(bundle.scores, bundle.trimap, now=fps is None)
            if bundle.result is not None and self.state.class_names:
                counts = np.bincount(bundle.result.labels_gum.ravel(), minlength=len(self.state.class_names))
                self.w.legend.set_present((counts > 0).tolist())
            self._update_position(bundle)
            if self._probe_xy is not None:
                self.probe(*self._probe_xy)
            self.frames_drawn += 1
            if limit is not None and self.frames_drawn == limit:
                self.worker.play(False)
                self.finish_script()
        finally:
            self.worker.frame_shown()

    def _update_position(self, bundle: FrameBundle) -> None:
        index = bundle.frame.index
        total = f" / {bundle.frame_count}" if bundle.frame_count else ""
        dropped = f" ({bundle.dropped} dropped)" if bundle.dropped else ""
        self.w.frame_label.setText(f"frame {index + 1}{total}{dropped}")
        slider = self.w.seek_slider
        if not slider.isSliderDown() and not self._seek_timer.isActive():
            slider.blockSignals(True)  # a frame moving the handle is not a user's seek
            slider.setValue(index)
            slider.blockSignals(False)

    # -- drawing ------------------------------------------------------------------------------------
    def _render(self) -> float:
        """Draw the current bundle for the current view; returns the time it took (ms)."""
        t0 = time.perf_counter()
        bundle = self.bundle
        if bundle is None:
            return 0.0
        view, result, canvas = self.state.view(), bundle.result, self.w.canvas
        if result is not None and view.arrows:  # about one arrow every 28 screen pixels, whatever the zoom
            w, h = rendered_size((bundle.frame.image.shape[1], bundle.frame.image.shape[0]), view)
            scale = min(canvas.width() / w, canvas.height() / h)
            view = replace(view, arrow_step=int(np.clip(28 / max(scale, 1e-3), 8, 64)))
        image, panels = compose(bundle.frame.image, result, bundle.twin, view, self.state.class_names, self.state.palette)
        self.last_render = image
        canvas.set_image(image, panels, view.wipe if view.layout == "wipe" and result is not None else None)
        side = view.layout == "side-by-side" and result is not None and bool(self.state.class_names)
        if side:
            self.w.key_label.setText(disagreement_key(bundle.twin is not None, bundle.frame.labels is not None))
        self.w.key_label.setVisible(side)
        return (time.perf_counter() - t0) * 1e3

    def probe(self, x: int, y: int) -> None:
        """Inspect frame pixel (x, y) of the current frame."""
        self._probe_xy = (x, y)
        result = self.bundle.result if self.bundle is not None else None
        if result is None:
            self.w.inspector.show_probe(None, ())
            return
        probe = result.probe(x, y)
        truth = int(result.ground_truth[probe.y, probe.x]) if result.ground_truth is not None else None
        self.w.inspector.show_probe(probe, self.state.class_names, truth)
        sx, sy = result.px_per_low_px
        cx, cy = np.floor(probe.sampled[0] + 0.5), np.floor(probe.sampled[1] + 0.5)  # nearest cell
        left, top = result.to_frame(cx - 0.5, cy - 0.5)  # pixel centres are at +0.5 on the canvas
        cell = QRectF(left + 0.5, top + 0.5, sx, sy)
        sample = QPointF(*(c + 0.5 for c in result.to_frame(*probe.sampled)))
        self.w.canvas.set_probe((probe.x, probe.y), cell, sample)

    # -- state --------------------------------------------------------------------------------------
    def on_state(self, name: str, value: object) -> None:
        s, w = self.state, self.w
        if name in AppState.VIEW_FIELDS or name in ("class_names", "palette", "loop", "full_speed"):
            sync_actions(w.actions, s)
            w.sync_controls(name, value)
            if name not in ("loop", "full_speed"):
                self._render()
        if name in ("device", "dtype"):
            w.device_combo.setCurrentText(s.device)
            w.dtype_combo.setCurrentText(s.dtype)
            if self.model is None:
                if s.weights:  # the load failed, say on a missing GPU: try again on the chosen device
                    w.model_label.setText(f"loading {Path(s.weights).name} on {s.device} {s.dtype}…")
                    self.worker.set_device(s.device, s.dtype)
            elif (s.device not in ("auto", self.model.device)) or s.dtype != self.model.dtype:
                w.model_label.setText(f"switching to {s.device} {s.dtype}…")
                self.worker.set_device(s.device, s.dtype)
        elif name == "playing":
            w.actions["toggle_play"].setText("Pause" if value else "Play")
        elif name in ("layout", "decoder"):
            self.worker.show(twin=s.layout == "side-by-side", bilinear=uses_bilinear(s.view()))
        elif name in ("loop", "full_speed"):
            self.worker.set_playback(loop=s.loop, paced=not s.full_speed)
            s.say(f"loop {'on' if value else 'off'}" if name == "loop" else
                  ("full speed: videos play as fast as the model allows" if value else "videos play at their frame rate"))
        elif name == "message":
            w.statusBar().showMessage(str(value or ""), 0 if s.error else 8000)
