"""Export dialog: where, which view, how many frames; progress and cancel. The worker does the
writing (gun.runtime.clip through gun.io.video.VideoSink, so a cancelled export leaves no file)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.worker import ExportJob, Worker
from gun.render.annotate import VIEWS, ViewSettings


class ExportDialog(QDialog):
    def __init__(self, worker: Worker, current_view: ViewSettings, default_path: str, frame_count: int | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export annotated video")
        self.worker = worker
        self.current_view = current_view
        self.running = False
        self.finished_ok: bool | None = None

        self.path = QLineEdit(default_path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path)
        path_row.addWidget(browse)
        self.view = QComboBox()
        self.view.addItems(["current view", *VIEWS])
        self.frames = QSpinBox()
        self.frames.setRange(1, 1_000_000)
        self.frames.setValue(frame_count or 100)
        self.all_frames = QCheckBox("whole source")
        self.all_frames.setChecked(frame_count is not None)
        self.all_frames.setEnabled(frame_count is not None)
        self.all_frames.toggled.connect(lambda on: self.frames.setEnabled(not on))
        self.frames.setEnabled(not self.all_frames.isChecked())
        frames_row = QHBoxLayout()
        frames_row.addWidget(self.frames)
        frames_row.addWidget(self.all_frames)
        self.sidecar = QCheckBox("per-frame CSV beside the video (timings, mIoU, classes)")
        self.sidecar.setChecked(True)

        form = QFormLayout()
        form.addRow("File (.mp4)", path_row)
        form.addRow("View", self.view)
        form.addRow("Frames", frames_row)
        form.addRow("", self.sidecar)
        self.progress = QProgressBar()
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setObjectName("exportStatus")
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

        worker.exportProgress.connect(self._progress)
        worker.exportFinished.connect(self._finished)
        self._connected = True

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), "MPEG-4 video (*.mp4)")
        if path:
            self.path.setText(path if path.lower().endswith(".mp4") else path + ".mp4")

    def job(self) -> ExportJob:
        name = self.view.currentText()
        view = self.current_view if name == "current view" else replace(VIEWS[name], alpha=self.current_view.alpha,
                                                                         visible=self.current_view.visible)
        frames = None if self.all_frames.isChecked() else self.frames.value()
        return ExportJob(self.path.text(), view, frames, self.sidecar.isChecked())

    def start(self) -> None:
        if self.running:
            return
        path = Path(self.path.text()).expanduser()
        if path.suffix.lower() != ".mp4":
            self.status.setText("The file name must end in .mp4")
            return
        self.running = True
        self.finished_ok = None
        self.start_button.setEnabled(False)
        self.progress.setValue(0)
        self.status.setText("exporting…")
        self.worker.export(self.job())

    def cancel(self) -> None:
        if self.running:
            self.status.setText("cancelling…")
            self.worker.cancel_export()
        else:
            self.reject()

    def _progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _finished(self, ok: bool, message: str) -> None:
        self.running = False
        self.finished_ok = ok
        self.status.setText(message)
        self.start_button.setEnabled(True)
        self.cancel_button.setText("Close")

    def reject(self) -> None:  # Esc or the window's close button: cancel first
        if self.running:
            self.cancel()
            return
        super().reject()

    def done(self, result: int) -> None:
        if self._connected:  # a later dialog gets the worker's export signals, not this one
            self._connected = False
            self.worker.exportProgress.disconnect(self._progress)
            self.worker.exportFinished.disconnect(self._finished)
        super().done(result)
