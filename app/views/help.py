"""The help: what the app shows and every keyboard shortcut, in a window of its own beside the
main window (a dock tab would hide the class legend while it is open)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

ABOUT = (
    "<p><b>GUN demo</b>: semantic segmentation with the Guided Upsampling Network "
    "(Mazzini, BMVC 2018). The guided upsampling module (GUM) samples the low-resolution "
    "prediction at learned offsets; <b>B</b> compares it with plain bilinear upsampling of the "
    "same prediction and, when <code>bilinear_effnet_camvid.safetensors</code> sits beside the "
    "weights, with the <b>bilinear twin</b> (the same network trained without guidance; it runs "
    "only in that view, where it costs a second forward pass); "
    "<b>G</b> and <b>F</b> show the offsets. Click a pixel to inspect it.</p>"
    "<p>Drop videos, images, folders (Cityscapes or CamVid layouts, or a CamVid root, give ground "
    "truth and live mIoU) or <code>.safetensors</code> weights on the window.</p>"
)


class HelpDialog(QDialog):
    def __init__(self, shortcuts: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("help")
        self.setWindowTitle("GUN demo: help")
        self.setModal(False)
        rows = "".join(f"<tr><td><b>{escape(key)}</b>&nbsp;&nbsp;</td><td>{escape(text)}</td></tr>"
                       for key, text in shortcuts)
        self.label = QLabel(f"{ABOUT}<table>{rows}</table>")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setContentsMargins(8, 8, 8, 8)
        scroll = QScrollArea()
        scroll.setWidget(self.label)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.hide)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(close)

    def show_beside(self, window: QWidget) -> None:
        """Show at a readable size that fits the window's screen, over its right part."""
        screen = window.screen().availableGeometry() if window.screen() else None
        width, height = 560, 640
        if screen is not None:
            width, height = min(width, screen.width() - 40), min(height, screen.height() - 60)
        self.resize(width, height)
        frame = window.frameGeometry()
        x = frame.right() - width - 20
        y = frame.top() + 60
        if screen is not None:
            x = max(screen.left(), min(x, screen.right() - width))
            y = max(screen.top(), min(y, screen.bottom() - height))
        self.move(x, y)
        self.show()
        self.raise_()
