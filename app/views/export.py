"""Export dialog: where, which view, how many frames, how long it will take; progress and cancel.
The worker does the writing (gun.runtime.clip through gun.io.sinks.VideoSink, so a cancelled export
leaves no file). The choices are remembered for the next export of the session (ExportMemory)."""

from __future__ import annotations

from dataclasses import dataclass, replace
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

from app.messages import ExportJob
from app.worker import Worker
from gun.render.annotate import VIEWS, ViewSettings


@dataclass
class ExportMemory:
    """What the last export dialog was set to; the next one starts from it."""

    folder: str = ""  # where the last export went ("" = the current folder)
    source: str = ""  # the source it exported; a new source gets a new file name in the same folder
    path: str = ""
    view: str = "current view"
    frames: int | None = None  # None = whole source
    sidecar: bool = True

    def path_for(self, source: str, stem: str) -> str:
        if self.path and source == self.source:
            return self.path
        return str(Path(self.folder or Path.cwd()) / f"{stem}_gun.mp4")


def describe_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ExportDialog(QDialog):
    def __init__(self, worker: Worker, current_view: ViewSettings, memory: ExportMemory, source: str, stem: str,
                 frame_count: int | None, seconds_per_frame: float | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export annotated video")
        self.worker = worker
        self.current_view = current_view
        self.running = False
        self.finished_ok: bool | None = None
        self.memory, self.source = memory, source
        self.frame_count, self.seconds_per_frame = frame_count, seconds_per_frame

        self.path = QLineEdit(memory.path_for(source, stem))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path)
        path_row.addWidget(browse)
        self.view = QComboBox()
        self.view.addItems(["current view", *VIEWS])
        self.view.setCurrentText(memory.view)
        self.frames = QSpinBox()
        self.frames.setRange(1, 1_000_000)
        self.frames.setValue(memory.frames or frame_count or 100)
        self.all_frames = QCheckBox("whole source")
        self.all_frames.setChecked(frame_count is not None and memory.frames is None)
        self.all_frames.setEnabled(frame_count is not None)
        self.all_frames.toggled.connect(lambda on: self.frames.setEnabled(not on))
        self.frames.setEnabled(not self.all_frames.isChecked())
        frames_row = QHBoxLayout()
        frames_row.addWidget(self.frames)
        frames_row.addWidget(self.all_frames)
        self.sidecar = QCheckBox("per-frame CSV beside the video (timings, mIoU, classes)")
        self.sidecar.setChecked(memory.sidecar)
        self.estimate = QLabel("")
        self.estimate.setObjectName("exportEstimate")
        self.frames.valueChanged.connect(self._estimate)
        self.all_frames.toggled.connect(self._estimate)

        form = QFormLayout()
        form.addRow("File (.mp4)", path_row)
        form.addRow("View", self.view)
        form.addRow("Frames", frames_row)
        form.addRow("", self.sidecar)
        form.addRow("Time", self.estimate)
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
        self._estimate()

    def frames_to_export(self) -> int | None:
        return self.frame_count if self.all_frames.isChecked() else self.frames.value()

    def _estimate(self) -> None:
        """Frames times the time a frame took while playing (model and drawing), e.g. 795 frames at 1 FPS."""
        n = self.frames_to_export()
        if n is None:
            self.estimate.setText("a live source: give a number of frames")
        elif not self.seconds_per_frame:
            self.estimate.setText(f"{n} frames; the time per frame is known once a few frames have played")
        else:
            seconds = n * self.seconds_per_frame
            self.estimate.setText(f"about {describe_duration(seconds)} ({n} frames at {1 / self.seconds_per_frame:.1f} FPS)")

    def remember(self) -> None:
        m = self.memory
        m.path, m.source, m.folder = self.path.text(), self.source, str(Path(self.path.text()).expanduser().parent)
        m.view, m.sidecar = self.view.currentText(), self.sidecar.isChecked()
        m.frames = None if self.all_frames.isChecked() else self.frames.value()

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
        self.remember()
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
        self.remember()
        if self._connected:  # a later dialog gets the worker's export signals, not this one
            self._connected = False
            self.worker.exportProgress.disconnect(self._progress)
            self.worker.exportFinished.disconnect(self._finished)
        super().done(result)
