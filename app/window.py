"""The main window: widgets and their arrangement. What they do is in app.presenter; which
commands exist, with their keys, menus and toolbar places, is in app.actions.

Arrangement: menus and toolbars on top (every command is in a menu, so nothing hides when a
toolbar runs out of room; toolbars wrap onto a second row on narrow windows); the canvas with
the error banner above and the seek bar below; classes and the pixel inspector on the left;
performance and accuracy plots on the right. The window is sized from the screen it opens on.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
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

from app.actions import ACTIONS, MENUS, TOOLBARS, help_rows, make_actions
from app.presenter import Presenter
from app.state import AppState
from app.views.canvas import FrameCanvas
from app.views.help import HelpDialog
from app.views.inspector import PixelInspector
from app.views.legend import LegendView
from app.views.plots import MetersPanel
from app.worker import WorkerThread

BANNER_STYLE = "QLabel { background: #b3261e; color: white; padding: 6px; border-radius: 3px; }"
PREFERRED_SIZE = (1440, 900)  # on screens that have the room
MIN_SCREEN = (1280, 720)  # the smallest screen the layout is designed for (smaller ones scroll the plots)


def fitted_geometry(available: QRect, preferred: tuple[int, int] = PREFERRED_SIZE) -> QRect:
    """The preferred size, shrunk to the screen's available area, centred in it."""
    w, h = min(preferred[0], available.width()), min(preferred[1], available.height())
    return QRect(available.left() + (available.width() - w) // 2, available.top() + (available.height() - h) // 2, w, h)


class MainWindow(QMainWindow):
    # emitted once, when `frames_limit` frames were drawn, or earlier when the source ends or fails
    # before that (a scripted run, e.g. main.py --frames N --screenshot PNG, must always finish)
    framesLimitReached = Signal()

    def __init__(self, state: AppState | None = None, frames_limit: int | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("GUN: guided upsampling, live")
        self.setAcceptDrops(True)
        self.state = state or AppState(self)
        self.frames_limit = frames_limit
        self._closing = False
        self._placed = False
        self.workers = WorkerThread()
        self.worker = self.workers.worker

        self._build_central()
        self._build_docks()
        self.presenter = Presenter(self)
        self.actions = make_actions(self, self.state, self.presenter.commands())
        self._build_menus()
        self._build_toolbars()
        self.help = HelpDialog(help_rows(), self)
        self.statusBar().addPermanentWidget(self.model_label)
        self.presenter.connect()
        if self.screen() is not None:
            self.setGeometry(fitted_geometry(self.screen().availableGeometry()))

    # -- construction -------------------------------------------------------------------------------
    def _build_central(self) -> None:
        self.banner = QLabel()
        self.banner.setObjectName("errorBanner")
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setWordWrap(True)
        self.dismiss = QPushButton("×")
        self.dismiss.setFixedWidth(28)
        self.dismiss.setToolTip("hide this message (it also goes away when the next load succeeds)")
        self.banner_row = QWidget()
        row = QHBoxLayout(self.banner_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.banner, 1)
        row.addWidget(self.dismiss)
        self.banner_row.setVisible(False)

        self.canvas = FrameCanvas()
        self.key_label = QLabel()  # the colour key of the disagreement panel, in side by side
        self.key_label.setObjectName("disagreementKey")
        self.key_label.setWordWrap(True)
        self.key_label.setVisible(False)
        self.seek_slider = QSlider(Qt.Orientation.Horizontal)
        self.seek_slider.setObjectName("seekSlider")
        self.seek_slider.setEnabled(False)
        self.frame_label = QLabel("–")
        self.frame_label.setMinimumWidth(150)
        seek_row = QHBoxLayout()
        seek_row.addWidget(self.seek_slider, 1)
        seek_row.addWidget(self.frame_label)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner_row)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.key_label)
        layout.addLayout(seek_row)
        self.setCentralWidget(central)
        self.model_label = QLabel("no model")
        self.model_label.setObjectName("modelLabel")

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock {title}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.legend = LegendView(self.state)
        self.inspector = PixelInspector()
        self.meters = MetersPanel()
        self.performance, self.miou = self.meters.performance, self.meters.miou
        self.legend_dock = self._dock("Classes", self.legend, left)
        self.inspector_dock = self._dock("Pixel", self.inspector, left)
        self.meters_dock = self._dock("Performance and accuracy", self.meters, right)

    def _build_menus(self) -> None:
        menus = {name: self.menuBar().addMenu(f"&{name}") for name in MENUS}
        for spec in ACTIONS:
            menus[spec.menu].addAction(self.actions[spec.name])

    def _build_toolbars(self) -> None:
        self.toolbars: list[QToolBar] = []
        bars: dict[str, QToolBar] = {}
        for name in TOOLBARS:
            bar = QToolBar(name)
            bar.setObjectName(f"toolbar {name}")
            bar.setMovable(False)
            self.addToolBar(bar)
            self.toolbars.append(bar)
            bars[name] = bar
        open_menu = QMenu(self)
        for name in ("open_file", "open_folder", "open_weights"):
            open_menu.addAction(self.actions[name])
        self.open_button = self._menu_button("Open", open_menu, "open a video, image, folder or weights")
        bars["Source"].addWidget(self.open_button)
        self.camera_menu = QMenu(self)
        self.camera_button = self._menu_button("Camera", self.camera_menu, "choose a camera (C)")
        bars["Source"].addWidget(self.camera_button)
        for spec in ACTIONS:
            if spec.toolbar in bars:
                bars[spec.toolbar].addAction(self.actions[spec.name])
        view = bars["View"]
        self.decoder_combo = QComboBox()
        self.decoder_combo.setObjectName("decoderCombo")
        self.decoder_combo.addItems(["gum", "bilinear"])
        self.decoder_combo.setToolTip("decoder shown in the single view (D)")
        view.addWidget(self.decoder_combo)
        view.addWidget(QLabel(" Opacity "))
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setObjectName("alphaSlider")
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(round(self.state.alpha * 100))
        self.alpha_slider.setFixedWidth(100)
        view.addWidget(self.alpha_slider)
        self.device_combo = self._combo("device", ["auto", "cpu", "cuda"], "device the model runs on")
        self.dtype_combo = self._combo("dtype", ["float32", "bfloat16", "float16"], "precision (bfloat16 / float16 run under autocast)")
        bars["Model"].addWidget(self.device_combo)
        bars["Model"].addWidget(self.dtype_combo)

    def _menu_button(self, text: str, menu: QMenu, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        return button

    def _combo(self, field: str, items: list[str], tip: str) -> QComboBox:
        """A combo box that sets one text field of the state (device, dtype)."""
        combo = QComboBox()
        combo.setObjectName(f"{field}Combo")
        combo.addItems(items)
        combo.setCurrentText(getattr(self.state, field))
        combo.setToolTip(tip)
        combo.currentTextChanged.connect(lambda t: setattr(self.state, field, t))
        return combo

    def sync_controls(self, name: str, value: object) -> None:
        """The opacity slider and decoder box follow the state."""
        if name == "alpha":
            self.alpha_slider.blockSignals(True)
            self.alpha_slider.setValue(round(float(value) * 100))  # type: ignore[arg-type]
            self.alpha_slider.blockSignals(False)
        elif name == "decoder":
            self.decoder_combo.blockSignals(True)
            self.decoder_combo.setCurrentText(str(value))
            self.decoder_combo.blockSignals(False)

    # -- fitting the screen -------------------------------------------------------------------------
    def reflow_toolbars(self) -> None:
        """Toolbars side by side while they fit the window's width, else wrapped onto more rows."""
        width, used = self.width(), 0
        for bar in self.toolbars:
            self.removeToolBarBreak(bar)
        for i, bar in enumerate(self.toolbars):
            need = bar.sizeHint().width() + 8
            if i and used + need > width:
                self.insertToolBarBreak(bar)
                used = 0
            used += need

    def size_docks(self) -> None:
        """Side panels in proportion to the window: legible plots, the rest for the video."""
        w = self.width()
        left = int(min(max(0.15 * w, 170), 230))
        right = int(min(max(0.29 * w, 280), 470))
        self.resizeDocks([self.legend_dock, self.meters_dock], [left, right], Qt.Orientation.Horizontal)
        self.resizeDocks([self.legend_dock, self.inspector_dock], [self.legend.sizeHint().height() + 30, 200],
                         Qt.Orientation.Vertical)

    def keep_on_screen(self) -> None:
        """After the window manager framed the window: shrink and move it into the screen's available area."""
        screen = self.screen()
        if screen is None:
            return
        available, frame = screen.availableGeometry(), self.frameGeometry()
        if available.contains(frame):
            return
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()
        self.resize(min(self.width(), available.width() - extra_w), min(self.height(), available.height() - extra_h))
        self.move(max(available.left(), min(self.x(), available.right() - self.frameGeometry().width() + 1)),
                  max(available.top(), min(self.y(), available.bottom() - self.frameGeometry().height() + 1)))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._placed:  # sizes apply once the window has its own size
            self._placed = True
            self.reflow_toolbars()
            self.size_docks()
            QTimer.singleShot(0, self.keep_on_screen)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._placed:
            self.reflow_toolbars()

    # -- user commands (the public API main.py and the tests use) -----------------------------------
    def open_source(self, spec) -> None:
        self.presenter.open_source(spec)

    def load_weights(self, path: str) -> None:
        self.presenter.load_weights(path)

    def open_export_dialog(self):
        return self.presenter.open_export_dialog()

    def save_screenshot(self, path: str | None = None) -> str | None:
        return self.presenter.save_screenshot(path)

    def show_help(self) -> None:
        self.help.show_beside(self)

    @property
    def bundle(self):
        return self.presenter.bundle

    @property
    def model(self):
        return self.presenter.model

    @property
    def source_info(self):
        return self.presenter.source_info

    @property
    def last_render(self):
        return self.presenter.last_render

    @property
    def frames_drawn(self) -> int:
        return self.presenter.frames_drawn

    @property
    def export_dialog(self):
        return self.presenter.export_dialog

    # -- drag and drop ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        event.acceptProposedAction()
        self.presenter.drop(paths)

    # -- shutdown -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the worker thread and wait for it (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self.presenter.closing = True
        self.help.hide()
        self.workers.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
