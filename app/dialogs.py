"""The standard dialogs and the camera menu: each asks the user for one thing and returns it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QWidget

from gun.io.base import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from gun.io.sources import list_cameras


def ask_media(parent: QWidget) -> str | None:
    patterns = " ".join(f"*{ext}" for ext in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS)
    path, _ = QFileDialog.getOpenFileName(parent, "Open a video or image", "", f"Videos and images ({patterns});;All files (*)")
    return path or None


def ask_folder(parent: QWidget) -> str | None:
    path = QFileDialog.getExistingDirectory(parent, "Open a folder of images (Cityscapes or CamVid layouts give ground truth)")
    return path or None


def ask_weights(parent: QWidget) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Load weights", "", "GUN checkpoints (*.safetensors)")
    return path or None


def fill_camera_menu(menu: QMenu, open_source: Callable[[str], None]) -> None:
    """The cameras that deliver a frame, and an entry to type an index."""
    menu.clear()
    cameras = list_cameras()
    for index in cameras:
        menu.addAction(f"Camera {index}", lambda i=index: open_source(f"camera:{i}"))
    if not cameras:
        menu.addAction("No camera found").setEnabled(False)
    menu.addSeparator()

    def ask() -> None:
        index, ok = QInputDialog.getInt(menu.parentWidget(), "Camera", "OpenCV camera index:", 0, 0, 63)
        if ok:
            open_source(f"camera:{index}")

    menu.addAction("Camera index…", ask)
