"""The frame canvas: shows the rendered image scaled to fit, reports clicks in frame pixels,
lets the wipe line be dragged, and marks the probed pixel and the low-resolution cell it sampled."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


def to_qimage(image: np.ndarray) -> QImage:
    """(H, W, 3) RGB uint8 -> QImage (copied, so the array may change afterwards).

    Stored as RGB32, the raster engine's own format: converting and scaling it onto the screen took
    0.9 ms against 2.3 for RGB888 (540x720 frame), on the GUI thread that shares the model's cores."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_RGB888).convertToFormat(QImage.Format.Format_RGB32)


class FrameCanvas(QWidget):
    pixelClicked = Signal(int, int)  # frame pixel (x, y)
    wipeDragged = Signal(float)  # new wipe position, fraction of the frame width

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._image: QImage | None = None
        self._panels = (1, 1)  # (columns, rows) of frames in the image (side by side: several)
        self._wipe: float | None = None  # fraction, when the wipe layout is shown
        self._dragging = False
        self._placeholder = "Drop a video, image, folder or weights file here"
        self._probe: tuple[int, int] | None = None  # frame pixel
        self._cell: QRectF | None = None  # in frame pixels: the low-res cell that pixel sampled
        self._sample: QPointF | None = None  # in frame pixels: the exact sampled position

    # -- content ------------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray | None, panels: tuple[int, int] = (1, 1), wipe: float | None = None) -> None:
        self._image = to_qimage(image) if image is not None else None
        self._panels, self._wipe = panels, wipe
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_probe(self, pixel: tuple[int, int] | None, cell: QRectF | None = None, sample: QPointF | None = None) -> None:
        self._probe, self._cell, self._sample = pixel, cell, sample
        self.update()

    # -- geometry -----------------------------------------------------------------------------------
    def _target(self) -> QRectF:
        """Where the image is drawn: scaled to fit, aspect kept, centred."""
        if self._image is None:
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def frame_width(self) -> int:
        return self._image.width() // self._panels[0] if self._image is not None else 0

    def frame_height(self) -> int:
        return self._image.height() // self._panels[1] if self._image is not None else 0

    def display_scale(self) -> float:
        """Screen pixels per image pixel."""
        return self._target().width() / self._image.width() if self._image is not None else 1.0

    def to_frame(self, pos: QPointF) -> tuple[int, int] | None:
        """Widget position -> frame pixel (every panel of a side by side maps to the same pixel)."""
        target = self._target()
        if self._image is None or not target.contains(pos):
            return None
        scale = self.display_scale()
        x = int((pos.x() - target.left()) / scale) % max(self.frame_width(), 1)
        y = int((pos.y() - target.top()) / scale) % max(self.frame_height(), 1)
        return x, y

    def _to_widget(self, x: float, y: float, panel: tuple[int, int] = (0, 0)) -> QPointF:
        target = self._target()
        scale = self.display_scale()
        return QPointF(target.left() + (x + panel[0] * self.frame_width()) * scale,
                       target.top() + (y + panel[1] * self.frame_height()) * scale)

    def _near_wipe(self, pos: QPointF) -> bool:
        if self._wipe is None or self._image is None:
            return False
        return abs(self._to_widget(self._wipe * self.frame_width(), 0).x() - pos.x()) < 14

    # -- events -------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if event.button() == Qt.MouseButton.LeftButton and self._near_wipe(pos):
            self._dragging = True
            return
        pixel = self.to_frame(pos)
        if pixel is not None:
            self.pixelClicked.emit(*pixel)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging and self._image is not None:
            target = self._target()
            fraction = (event.position().x() - target.left()) / max(target.width(), 1.0)
            self.wipeDragged.emit(float(min(max(fraction, 0.0), 1.0)))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._dragging = False

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 28))
        if self._image is None:
            painter.setPen(QColor(170, 170, 180))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self._target(), self._image)
        if self._wipe is not None:  # a handle on the wipe line
            x = self._to_widget(self._wipe * self.frame_width(), 0).x()
            y = self._target().center().y()
            painter.setPen(QPen(QColor(255, 255, 255), 2))
            painter.setBrush(QColor(40, 40, 40, 200))
            painter.drawEllipse(QPointF(x, y), 10, 10)
        if self._probe is not None:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            panels = [(c, r) for r in range(self._panels[1]) for c in range(self._panels[0])]
            for panel in panels:
                if self._cell is not None and panel == (0, 0):
                    top_left = self._to_widget(self._cell.left(), self._cell.top(), panel)
                    bottom_right = self._to_widget(self._cell.right(), self._cell.bottom(), panel)
                    painter.setPen(QPen(QColor(255, 255, 0), 1.5, Qt.PenStyle.DashLine))
                    painter.setBrush(Qt.BrushStyle.NoBrush)
                    painter.drawRect(QRectF(top_left, bottom_right))
                    if self._sample is not None:
                        sample = self._to_widget(self._sample.x(), self._sample.y(), panel)
                        painter.setPen(QPen(QColor(255, 255, 0), 1.5))
                        painter.drawLine(self._to_widget(self._probe[0] + 0.5, self._probe[1] + 0.5, panel), sample)
                        painter.drawEllipse(sample, 3, 3)
                centre = self._to_widget(self._probe[0] + 0.5, self._probe[1] + 0.5, panel)
                painter.setPen(QPen(QColor(0, 0, 0), 3))
                painter.drawLine(centre - QPointF(8, 0), centre + QPointF(8, 0))
                painter.drawLine(centre - QPointF(0, 8), centre + QPointF(0, 8))
                painter.setPen(QPen(QColor(255, 255, 255), 1))
                painter.drawLine(centre - QPointF(8, 0), centre + QPointF(8, 0))
                painter.drawLine(centre - QPointF(0, 8), centre + QPointF(0, 8))
