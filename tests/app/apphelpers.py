"""Helpers of the app tests: windows made through main.py's own start-up, and waiting on them.

(A plain module, not a conftest.py: tests import the root conftest by its module name. Each test
module wraps `window_factory` and `shipped_pair_in` in its own fixtures.)"""

from __future__ import annotations

import gc
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.window import MainWindow
from gun.paths import DEFAULT_WEIGHTS, TWIN_WEIGHTS

TIMEOUT = 30_000  # ms; generous: CI machines are slow and may be busy


def window_factory(qtbot) -> Iterator[Callable[..., MainWindow]]:
    """Makes windows through main.py's own start-up; closes them and waits for their workers.

    Garbage is collected on the GUI thread before each window starts its worker: otherwise the
    Python objects of an earlier test's window (pyqtgraph's items hold reference cycles) may be
    collected on a later window's worker thread, and a QObject destroyed there while the GUI thread
    deletes another deadlocks on Qt's lock against the GIL (seen once in a loop of these tests)."""
    import main

    made: list[MainWindow] = []

    def make(*argv: str) -> MainWindow:
        gc.collect()
        window = main.create_window(main.parse_args(list(argv)))
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()
        assert window.workers.thread.wait(TIMEOUT), "worker thread did not stop"
        assert not window.workers.thread.isRunning()
    made.clear()
    gc.collect()


def shipped_pair_in(folder: Path, checkpoint: Path, checkpoint_bilinear: Path) -> Path:
    """A weights folder laid out like the repository's: the GUN under the default name, its
    bilinear twin beside it (tiny random networks). Returns the GUN's path."""
    shutil.copy(checkpoint, folder / DEFAULT_WEIGHTS.name)
    shutil.copy(checkpoint_bilinear, folder / TWIN_WEIGHTS.name)
    return folder / DEFAULT_WEIGHTS.name


def wait_frames(qtbot, window: MainWindow, n: int = 1) -> None:
    start = window.frames_drawn
    qtbot.waitUntil(lambda: window.frames_drawn >= start + n, timeout=TIMEOUT)


def wait_result(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.bundle is not None and window.bundle.result is not None, timeout=TIMEOUT)


def pause(qtbot, window: MainWindow) -> None:
    window.worker.play(False)
    qtbot.waitUntil(lambda: not window.state.playing, timeout=TIMEOUT)
    qtbot.wait(50)  # results already on their way are drawn
    QApplication.processEvents()


def drop(window: MainWindow, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)
