"""Class legend from the checkpoint's metadata, with a visibility toggle per class."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from app.state import AppState


def swatch(rgb: Sequence[int], size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class LegendView(QWidget):
    """Observes state.class_names / palette / visible; checking an item sets state.visible."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("legend")
        self.state = state
        self.list = QListWidget()
        self.list.setObjectName("legendList")
        self.list.itemChanged.connect(self._item_changed)
        show_all, show_none = QPushButton("All"), QPushButton("None")
        show_all.clicked.connect(lambda: self._set_all(True))
        show_none.clicked.connect(lambda: self._set_all(False))
        buttons = QHBoxLayout()
        buttons.addWidget(show_all)
        buttons.addWidget(show_none)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self._updating = False
        state.changed.connect(self._state_changed)
        self._rebuild()

    def _state_changed(self, name: str, value: object) -> None:
        if name in ("class_names", "palette"):
            self._rebuild()
        elif name == "visible":
            self._sync_checks()

    def _rebuild(self) -> None:
        self._updating = True
        self.list.clear()
        palette = self.state.palette
        for i, name in enumerate(self.state.class_names):
            item = QListWidgetItem(swatch(palette[i]) if i < len(palette) else QIcon(), name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            self.list.addItem(item)
        self._updating = False
        self._sync_checks()
        # as tall as its rows (up to a limit), so the plots below get the room
        rows = max(self.list.count(), 3)
        self.list.setFixedHeight(min(rows * max(self.list.sizeHintForRow(0), 16) + 2 * self.list.frameWidth() + 4, 420))

    def _sync_checks(self) -> None:
        self._updating = True
        visible = self.state.visible
        for i in range(self.list.count()):
            shown = not visible or (i < len(visible) and visible[i])
            self.list.item(i).setCheckState(Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)
        self._updating = False

    def _item_changed(self, item: QListWidgetItem) -> None:
        if not self._updating:
            self.state.set_class_visible(self.list.row(item), item.checkState() == Qt.CheckState.Checked)

    def _set_all(self, shown: bool) -> None:
        self.state.visible = (shown,) * len(self.state.class_names)

    def set_present(self, present: Sequence[bool]) -> None:
        """Bold the classes found in the current frame."""
        for i in range(self.list.count()):
            font = QFont(self.list.font())
            font.setBold(i < len(present) and bool(present[i]))
            self.list.item(i).setFont(font)
