"""The help panel: every keyboard shortcut, as the window registered them."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

ABOUT = (
    "<p><b>GUN demo</b>: semantic segmentation with the Guided Upsampling Network "
    "(Mazzini, BMVC 2018). The guided upsampling module (GUM) samples the low-resolution "
    "prediction at learned offsets; <b>B</b> compares it with plain bilinear upsampling of the "
    "same prediction, <b>G</b> shows the offsets. Click a pixel to inspect it.</p>"
    "<p>Drop videos, images, folders (Cityscapes or CamVid layouts give ground truth and mIoU) "
    "or <code>.safetensors</code> weights on the window.</p>"
)


class HelpPanel(QWidget):
    def __init__(self, shortcuts: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("help")
        rows = "".join(f"<tr><td><b>{escape(key)}</b>&nbsp;&nbsp;</td><td>{escape(text)}</td></tr>"
                       for key, text in shortcuts)
        self.label = QLabel(f"{ABOUT}<table>{rows}</table>")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setContentsMargins(6, 6, 6, 6)
        scroll = QScrollArea()  # a long list must not make the dock (and the window) taller
        scroll.setWidget(self.label)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
