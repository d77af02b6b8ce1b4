"""The main window: toolbar, canvas, docks (classes, performance, accuracy, pixel, help).

It wires widgets to the AppState and the Worker. Frames arrive from the worker as numpy; the
window draws them with gun.render.annotate (the same code as `gun annotate`) for the current view, so
changing a toggle redraws the current frame at once, even when paused.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.state import AppState
from app.views.canvas import FrameCanvas
from app.views.export import ExportDialog
from app.views.help import HelpPanel
from app.views.inspector import PixelInspector
from app.views.legend import LegendView
from app.views.plots import MiouPlot, PerformancePlot
from app.worker import FrameBundle, ModelInfo, SourceInfo, WorkerThread
from gun.io.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, WEIGHTS_EXTENSIONS, FrameSource, list_cameras
from gun.render.annotate import panel_grid, render, rendered_size

BANNER_STYLE = "QLabel { background: #b3261e; color: white; padding: 6px; border-radius: 3px; }"


@dataclass
class Shortcut:
    keys: tuple[str, ...]
    text: str
    action: Callable[[], None]


class MainWindow(QMainWindow):
    # emitted once, when `frames_limit` frames were drawn, or earlier when the source ends or fails
    # before that (a scripted run, e.g. main.py --frames N --screenshot PNG, must always finish)
    framesLimitReached = Signal()

    def __init__(self, state: AppState | None = None, frames_limit: int | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("GUN: guided upsampling, live")
        self.resize(1440, 900)
        self.setAcceptDrops(True)
        self.state = state or AppState(self)
        self.frames_limit = frames_limit
        self._script_finished = False
        self.frames_drawn = 0
        self.bundle: FrameBundle | None = None
        self.model: ModelInfo | None = None
        self.source_info: SourceInfo | None = None
        self.last_render: np.ndarray | None = None
        self._probe_xy: tuple[int, int] | None = None
        self._shown_at: deque[float] = deque(maxlen=11)
        self._fps = 0.0
        self._closing = False
        self._docks_sized = False
        self.export_dialog: ExportDialog | None = None

        self.workers = WorkerThread()
        self.worker = self.workers.worker
        self.worker.frameReady.connect(self._on_frame)
        self.worker.modelLoaded.connect(self._on_model)
        self.worker.sourceOpened.connect(self._on_source)
        self.worker.playingChanged.connect(lambda playing: setattr(self.state, "playing", playing))
        self.worker.failed.connect(self._on_failed)
        self.worker.ended.connect(self._on_ended)
        self.worker.stalled.connect(self._finish_script)

        self._build_central()
        self._build_docks()
        self._build_toolbar()
        self._build_shortcuts()
        self.statusBar().addPermanentWidget(self.model_label)
        self.state.changed.connect(self._state_changed)

    # -- construction -------------------------------------------------------------------------------
    def _build_central(self) -> None:
        self.banner = QLabel()
        self.banner.setObjectName("errorBanner")
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        dismiss = QPushButton("×")
        dismiss.setFixedWidth(28)
        dismiss.clicked.connect(lambda: self.banner_row.setVisible(False))
        self.banner_row = QWidget()
        row = QHBoxLayout(self.banner_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.banner, 1)
        row.addWidget(dismiss)
        self.banner_row.setVisible(False)

        self.canvas = FrameCanvas()
        self.canvas.pixelClicked.connect(self._on_click)
        self.canvas.wipeDragged.connect(lambda f: setattr(self.state, "wipe", f))
        self.seek_slider = QSlider(Qt.Orientation.Horizontal)
        self.seek_slider.setObjectName("seekSlider")
        self.seek_slider.setEnabled(False)
        self.seek_slider.sliderReleased.connect(lambda: self.worker.seek(self.seek_slider.value()))
        self.seek_slider.actionTriggered.connect(self._slider_action)
        self.frame_label = QLabel("–")
        self.frame_label.setMinimumWidth(140)
        seek_row = QHBoxLayout()
        seek_row.addWidget(self.seek_slider, 1)
        seek_row.addWidget(self.frame_label)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner_row)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(seek_row)
        self.setCentralWidget(central)
        self.model_label = QLabel("no model")
        self.model_label.setObjectName("modelLabel")

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock {title}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.legend = LegendView(self.state)
        self.performance = PerformancePlot()
        self.miou = MiouPlot()
        self.inspector = PixelInspector()
        self.legend_dock = self._dock("Classes", self.legend)
        self.performance_dock = self._dock("Performance", self.performance)
        self.miou_dock = self._dock("Accuracy", self.miou)
        self.inspector_dock = self._dock("Pixel", self.inspector)
        self.tabifyDockWidget(self.legend_dock, self.inspector_dock)
        self.miou_dock.setVisible(False)  # shown when a source brings ground truth

    def _toggle_action(self, text: str, field: str, tip: str) -> QAction:
        action = QAction(text, self)
        action.setCheckable(True)
        action.setChecked(bool(getattr(self.state, field)))
        action.setToolTip(tip)
        action.toggled.connect(lambda on: setattr(self.state, field, on))
        self._field_actions.setdefault(field, []).append(action)
        return action

    def _build_toolbar(self) -> None:
        self._field_actions: dict[str, list[QAction]] = {}
        bar = QToolBar("Main")
        bar.setObjectName("toolbar")
        bar.setMovable(False)
        self.addToolBar(bar)

        open_menu = QMenu(self)
        open_menu.addAction("Video or image… (Ctrl+O)", self.open_file_dialog)
        open_menu.addAction("Folder of images… (Ctrl+Shift+O)", self.open_folder_dialog)
        open_menu.addAction("Weights… (Ctrl+L)", self.open_weights_dialog)
        open_button = QToolButton()
        open_button.setText("Open")
        open_button.setMenu(open_menu)
        open_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(open_button)
        self.camera_menu = QMenu(self)
        self.camera_menu.aboutToShow.connect(self._fill_camera_menu)
        self.camera_button = QToolButton()
        self.camera_button.setText("Camera")
        self.camera_button.setMenu(self.camera_menu)
        self.camera_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(self.camera_button)
        bar.addSeparator()

        self.play_action = QAction("Pause", self)
        self.play_action.setToolTip("play / pause (Space)")
        self.play_action.triggered.connect(self.toggle_play)
        bar.addAction(self.play_action)
        bar.addAction("◀", lambda: self.worker.step(-1)).setToolTip("previous frame (Left)")
        bar.addAction("▶", lambda: self.worker.step(1)).setToolTip("next frame (Right)")
        bar.addSeparator()

        bar.addAction(self._toggle_action("Overlay", "overlay", "class colours over the frame (O)"))
        bar.addAction(self._toggle_action("Guidance", "arrows", "guidance offsets as arrows (G)"))
        bar.addAction(self._toggle_action("Flow", "flow", "guidance offsets as flow colours: hue = direction (F)"))
        self.layout_group = QActionGroup(self)
        self.layout_actions: dict[str, QAction] = {}
        for name, text, tip in (("single", "Single", "one decoder (D switches GUM / bilinear)"),
                                ("side-by-side", "Side by side", "GUM | bilinear over disagreement | truth or offsets (B)"),
                                ("wipe", "Wipe", "GUM left, bilinear right; drag the line (W)")):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setToolTip(tip)
            action.setChecked(self.state.layout == name)
            action.triggered.connect(lambda _=False, n=name: setattr(self.state, "layout", n))
            self.layout_group.addAction(action)
            self.layout_actions[name] = action
            bar.addAction(action)
        self.decoder_combo = QComboBox()
        self.decoder_combo.setObjectName("decoderCombo")
        self.decoder_combo.addItems(["gum", "bilinear"])
        self.decoder_combo.setToolTip("decoder shown in the single view (D)")
        self.decoder_combo.currentTextChanged.connect(lambda t: setattr(self.state, "decoder", t))
        bar.addWidget(self.decoder_combo)
        bar.addWidget(QLabel(" Opacity "))
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setObjectName("alphaSlider")
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(round(self.state.alpha * 100))
        self.alpha_slider.setFixedWidth(110)
        self.alpha_slider.valueChanged.connect(lambda v: setattr(self.state, "alpha", v / 100))
        bar.addWidget(self.alpha_slider)
        bar.addSeparator()

        self.device_combo = self._state_combo("device", ["auto", "cpu", "cuda"], "device the model runs on")
        self.dtype_combo = self._state_combo("dtype", ["float32", "bfloat16", "float16"],
                                             "precision (bfloat16 / float16 run under autocast)")
        bar.addWidget(self.device_combo)
        bar.addWidget(self.dtype_combo)
        bar.addSeparator()
        bar.addAction("Export", self.open_export_dialog).setToolTip("export an annotated video (E)")
        bar.addAction("Screenshot", self.save_screenshot).setToolTip("save the view as PNG (S)")
        bar.addAction("Help", self.show_help).setToolTip("shortcuts (F1)")

    def _state_combo(self, field: str, items: list[str], tip: str) -> QComboBox:
        """A combo box that sets one text field of the state (e.g. device, dtype)."""
        combo = QComboBox()
        combo.setObjectName(f"{field}Combo")
        combo.addItems(items)
        combo.setCurrentText(getattr(self.state, field))
        combo.setToolTip(tip)
        combo.currentTextChanged.connect(lambda t: setattr(self.state, field, t))
        return combo

    def _build_shortcuts(self) -> None:
        s = self.state
        self.shortcuts = [
            Shortcut(("Space",), "play / pause", self.toggle_play),
            Shortcut(("Right",), "next frame (pauses)", lambda: self.worker.step(1)),
            Shortcut(("Left",), "previous frame", lambda: self.worker.step(-1)),
            Shortcut(("Shift+Right",), "10 frames forward", lambda: self.worker.step(10)),
            Shortcut(("Shift+Left",), "10 frames back", lambda: self.worker.step(-10)),
            Shortcut(("Home",), "first frame", lambda: self.worker.seek(0)),
            Shortcut(("G",), "guidance offsets as arrows", lambda: s.toggle("arrows")),
            Shortcut(("F",), "guidance offsets as flow colours (hue = direction)", lambda: s.toggle("flow")),
            Shortcut(("O",), "class overlay on / off", lambda: s.toggle("overlay")),
            Shortcut(("B",), "side by side: GUM, bilinear, disagreement, ground truth (or offsets)",
                     lambda: self._toggle_layout("side-by-side")),
            Shortcut(("W",), "wipe GUM / bilinear (drag the line)", lambda: self._toggle_layout("wipe")),
            Shortcut(("D",), "single view: switch GUM / bilinear decoder",
                     lambda: setattr(s, "decoder", "bilinear" if s.decoder == "gum" else "gum")),
            Shortcut(("+", "="), "more overlay opacity", lambda: setattr(s, "alpha", round(min(1.0, s.alpha + 0.1), 2))),
            Shortcut(("-",), "less overlay opacity", lambda: setattr(s, "alpha", round(max(0.0, s.alpha - 0.1), 2))),
            Shortcut(("L",), "loop videos on / off", lambda: s.toggle("loop")),
            Shortcut(("E",), "export an annotated video", self.open_export_dialog),
            Shortcut(("S",), "save a screenshot of the view (PNG)", self.save_screenshot),
            Shortcut(("C",), "choose a camera", self._popup_camera_menu),
            Shortcut(("Ctrl+O",), "open a video or image", self.open_file_dialog),
            Shortcut(("Ctrl+Shift+O",), "open a folder of images", self.open_folder_dialog),
            Shortcut(("Ctrl+L",), "load weights (.safetensors)", self.open_weights_dialog),
            Shortcut(("F1", "H"), "show this help", self.show_help),
            Shortcut(("Ctrl+Q",), "quit", self.close),
        ]
        for shortcut in self.shortcuts:
            for key in shortcut.keys:
                QShortcut(QKeySequence(key), self, shortcut.action)
        self.help = HelpPanel([(" / ".join(s.keys), s.text) for s in self.shortcuts] +
                              [("click", "inspect a pixel: classes, offset, sampled cell")])
        self.help_dock = self._dock("Help", self.help)
        self.tabifyDockWidget(self.inspector_dock, self.help_dock)
        self.legend_dock.raise_()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._docks_sized:  # dock sizes apply once the window has its own size
            self._docks_sized = True
            self.resizeDocks([self.legend_dock], [400], Qt.Orientation.Horizontal)
            self.resizeDocks([self.legend_dock, self.performance_dock], [270, 600], Qt.Orientation.Vertical)

    # -- user commands --------------------------------------------------------------------------------
    def open_source(self, spec: str | FrameSource) -> None:
        """Play a source spec (path, folder, "camera:N") or a ready FrameSource."""
        self.worker.open_source(spec)

    def load_weights(self, path: str) -> None:
        self.state.weights = str(path)
        self.model_label.setText(f"loading {Path(path).name}…")
        self.worker.load_weights(str(path), self.state.device, self.state.dtype)

    def toggle_play(self) -> None:
        self.worker.play(not self.state.playing)

    def _toggle_layout(self, layout: str) -> None:
        self.state.layout = "single" if self.state.layout == layout else layout

    def open_file_dialog(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Open a video or image", "", f"Videos and images ({patterns});;All files (*)")
        if path:
            self.open_source(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images (Cityscapes or CamVid layouts give ground truth)")
        if path:
            self.open_source(path)

    def open_weights_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load weights", "", "GUN checkpoints (*.safetensors)")
        if path:
            self.load_weights(path)

    def _fill_camera_menu(self) -> None:
        self.camera_menu.clear()
        cameras = list_cameras()
        for index in cameras:
            self.camera_menu.addAction(f"Camera {index}", lambda i=index: self.open_source(f"camera:{i}"))
        if not cameras:
            self.camera_menu.addAction("No camera found").setEnabled(False)
        self.camera_menu.addSeparator()
        self.camera_menu.addAction("Camera index…", self._ask_camera_index)

    def _popup_camera_menu(self) -> None:
        self.camera_menu.popup(self.camera_button.mapToGlobal(self.camera_button.rect().bottomLeft()))

    def _ask_camera_index(self) -> None:
        index, ok = QInputDialog.getInt(self, "Camera", "OpenCV camera index:", 0, 0, 63)
        if ok:
            self.open_source(f"camera:{index}")

    def open_export_dialog(self) -> ExportDialog:
        if self.export_dialog is not None and self.export_dialog.isVisible():
            return self.export_dialog
        stem = Path(self.source_info.name).stem if self.source_info else "export"
        frames = self.source_info.frame_count if self.source_info else None
        self.export_dialog = ExportDialog(self.worker, self.state.view(), str(Path.cwd() / f"{stem}_gun.mp4"), frames, self)
        self.export_dialog.show()
        return self.export_dialog

    def save_screenshot(self, path: str | None = None) -> str | None:
        """The current view at full resolution as PNG (default: ./gun-screenshot-N.png)."""
        image = self.canvas.image()
        if image is None:
            self.state.say("nothing to save yet")
            return None
        if path is None:
            n = 1
            while Path(f"gun-screenshot-{n}.png").exists():
                n += 1
            path = f"gun-screenshot-{n}.png"
        if not image.save(path):
            self.state.say(f"cannot write {path}", error=True)
            return None
        self.state.say(f"saved {path}")
        return path

    def show_help(self) -> None:
        self.help_dock.show()
        self.help_dock.raise_()

    # -- drag and drop --------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            self.state.say("only local files can be dropped", error=True)
            return
        event.acceptProposedAction()
        for path in paths:  # weights first, so the source that follows uses them
            if Path(path).suffix.lower() in WEIGHTS_EXTENSIONS:
                self.load_weights(path)
        sources = [p for p in paths if Path(p).suffix.lower() not in WEIGHTS_EXTENSIONS]
        if sources:
            self.open_source(sources[0])

    # -- from the worker ------------------------------------------------------------------------------
    def _on_model(self, info: ModelInfo) -> None:
        self.model = info
        self.state.weights = info.path
        if tuple(info.class_names) != self.state.class_names:
            self.state.visible = ()
        self.state.class_names = tuple(info.class_names)
        self.state.palette = tuple(info.palette)
        self.model_label.setText(info.description)
        self.model_label.setToolTip(f"dataset: {info.dataset or '?'}; metrics: {info.metrics}")
        item = self.device_combo.model().item(2)
        item.setEnabled(info.cuda_available)
        for combo, value in ((self.device_combo, info.device if self.state.device != "auto" else "auto"),
                             (self.dtype_combo, info.dtype)):
            combo.blockSignals(True)
            combo.setCurrentText(value)
            combo.blockSignals(False)
        self.state.dtype = info.dtype
        if not info.has_guidance:
            self.state.say(f"{Path(info.path).name} has no guidance module: GUM and bilinear views are the same")
        else:
            self.state.say(f"loaded {Path(info.path).name}")

    def _finish_script(self) -> None:
        if self.frames_limit is not None and not self._script_finished:
            self._script_finished = True
            QTimer.singleShot(0, self.framesLimitReached.emit)

    def _on_ended(self) -> None:
        self.state.say("end of source")
        self._finish_script()

    def _on_failed(self, message: str) -> None:
        self.state.say(message, error=True)
        # a failed load or device switch keeps the model that was there
        self.model_label.setText(self.model.description if self.model else "no model")
        if self.model is not None:
            self.state.weights = self.model.path
            self.state.dtype = self.model.dtype
            if self.state.device != "auto":
                self.state.device = self.model.device

    def _on_source(self, info: SourceInfo) -> None:
        self.source_info = info
        self.state.source = info.spec
        self.performance.clear()
        self.miou.clear()
        self.miou_dock.setVisible(False)
        self._shown_at.clear()
        self._fps = 0.0
        self._probe_xy = None
        self.canvas.set_probe(None)
        self.inspector.show_probe(None, ())
        self.seek_slider.setEnabled(info.seekable and (info.frame_count or 0) > 1)
        self.seek_slider.setRange(0, max((info.frame_count or 1) - 1, 0))
        live = " (live)" if info.live else ""
        self.setWindowTitle(f"GUN: {info.name}{live}")
        self.state.say(f"playing {info.name}{live}")

    def _on_frame(self, bundle: FrameBundle) -> None:
        try:
            if self._closing:
                return
            self.bundle = bundle
            # frames per second over the last few frames (an average of 1/interval would overrate
            # bursts: two results that waited while the GUI was busy arrive back to back)
            self._shown_at.append(time.perf_counter())
            if len(self._shown_at) > 1:
                self._fps = (len(self._shown_at) - 1) / max(self._shown_at[-1] - self._shown_at[0], 1e-6)
            render_ms = self._render()
            timings = {**bundle.timings, "render": render_ms}
            self.performance.add(self._fps, timings)
            if bundle.scores:
                if not self.miou_dock.isVisible():
                    self.miou_dock.setVisible(True)
                    self.resizeDocks([self.performance_dock, self.miou_dock], [380, 260], Qt.Orientation.Vertical)
                self.miou.add(bundle.scores)
                self.miou.set_trimap(bundle.trimap)
            if bundle.result is not None and self.state.class_names:
                counts = np.bincount(bundle.result.labels_gum.ravel(), minlength=len(self.state.class_names))
                self.legend.set_present((counts > 0).tolist())
            self._update_position(bundle)
            if self._probe_xy is not None:
                self.probe(*self._probe_xy)
            self.frames_drawn += 1
            if self.frames_limit is not None and self.frames_drawn == self.frames_limit:
                self.worker.play(False)
                self._finish_script()
        finally:
            self.worker.frame_shown()

    def _update_position(self, bundle: FrameBundle) -> None:
        index = bundle.frame.index
        total = f" / {bundle.frame_count}" if bundle.frame_count else ""
        dropped = f" ({bundle.dropped} dropped)" if bundle.dropped else ""
        self.frame_label.setText(f"frame {index + 1}{total}{dropped}")
        if not self.seek_slider.isSliderDown():
            self.seek_slider.blockSignals(True)
            self.seek_slider.setValue(index)
            self.seek_slider.blockSignals(False)

    def _slider_action(self, action: int) -> None:
        if action in (QSlider.SliderAction.SliderPageStepAdd, QSlider.SliderAction.SliderPageStepSub,
                      QSlider.SliderAction.SliderSingleStepAdd, QSlider.SliderAction.SliderSingleStepSub):
            QTimer.singleShot(0, lambda: self.worker.seek(self.seek_slider.value()))

    # -- drawing --------------------------------------------------------------------------------------
    def _render(self) -> float:
        """Draw the current bundle for the current view; returns the time it took (ms)."""
        t0 = time.perf_counter()
        bundle = self.bundle
        if bundle is None:
            return 0.0
        view = self.state.view()
        result = bundle.result
        if result is None or not self.state.class_names:
            image, panels = bundle.frame.image, (1, 1)
        else:
            panels = panel_grid(view)
            if view.arrows:  # about one arrow every 28 screen pixels, whatever the zoom
                w, h = rendered_size((bundle.frame.image.shape[1], bundle.frame.image.shape[0]), view)
                scale = min(self.canvas.width() / w, self.canvas.height() / h)
                view = replace(view, arrow_step=int(np.clip(28 / max(scale, 1e-3), 8, 64)))
            image = render(bundle.frame.image, result, view, self.state.class_names, self.state.palette)
        self.last_render = image
        self.canvas.set_image(image, panels, view.wipe if view.layout == "wipe" and result is not None else None)
        return (time.perf_counter() - t0) * 1e3

    def probe(self, x: int, y: int) -> None:
        """Inspect frame pixel (x, y) of the current frame."""
        self._probe_xy = (x, y)
        result = self.bundle.result if self.bundle is not None else None
        if result is None:
            self.inspector.show_probe(None, ())
            return
        probe = result.probe(x, y)
        truth = int(result.ground_truth[probe.y, probe.x]) if result.ground_truth is not None else None
        self.inspector.show_probe(probe, self.state.class_names, truth)
        sx, sy = result.px_per_low_px
        cx, cy = np.floor(probe.sampled[0] + 0.5), np.floor(probe.sampled[1] + 0.5)  # nearest cell
        left, top = result.to_frame(cx - 0.5, cy - 0.5)  # pixel centres are at +0.5 on the canvas
        cell = QRectF(left + 0.5, top + 0.5, sx, sy)
        sample = QPointF(*(c + 0.5 for c in result.to_frame(*probe.sampled)))
        self.canvas.set_probe((probe.x, probe.y), cell, sample)

    def _on_click(self, x: int, y: int) -> None:
        self.probe(x, y)
        self.inspector_dock.raise_()

    # -- state ----------------------------------------------------------------------------------------
    def _state_changed(self, name: str, value: object) -> None:
        if name in AppState.VIEW_FIELDS or name in ("class_names", "palette"):
            self._sync_controls(name, value)
            self._render()
        elif name in ("device", "dtype"):
            self.device_combo.setCurrentText(self.state.device)
            self.dtype_combo.setCurrentText(self.state.dtype)
            if self.model is not None and (self.state.device != self._model_device() or self.state.dtype != self.model.dtype):
                self.model_label.setText(f"switching to {self.state.device} {self.state.dtype}…")
                self.worker.set_device(self.state.device, self.state.dtype)
        elif name == "playing":
            self.play_action.setText("Pause" if value else "Play")
        elif name == "loop":
            self.worker.set_loop(bool(value))
            self.state.say(f"loop {'on' if value else 'off'}")
        elif name == "message":
            self._show_message(str(value or ""), self.state.error)

    def _model_device(self) -> str:
        return "auto" if self.state.device == "auto" else (self.model.device if self.model else "")

    def _sync_controls(self, name: str, value: object) -> None:
        for action in self._field_actions.get(name, []):
            action.blockSignals(True)
            action.setChecked(bool(value))
            action.blockSignals(False)
        if name == "layout":
            self.layout_actions[str(value)].setChecked(True)
        elif name == "alpha":
            self.alpha_slider.blockSignals(True)
            self.alpha_slider.setValue(round(float(value) * 100))  # type: ignore[arg-type]
            self.alpha_slider.blockSignals(False)
        elif name == "decoder":
            self.decoder_combo.blockSignals(True)
            self.decoder_combo.setCurrentText(str(value))
            self.decoder_combo.blockSignals(False)

    def _show_message(self, message: str, error: bool) -> None:
        if error:
            self.banner.setText(message)
            self.banner.setVisible(True)
            self.banner_row.setVisible(True)
        self.statusBar().showMessage(message, 0 if error else 8000)

    # -- shutdown -------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the worker thread and wait for it (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.workers.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
