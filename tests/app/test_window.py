"""The app, offscreen: playing, drag and drop, toggles, side by side, export, errors, shortcuts.

Every window is closed at the end of its test and its worker thread is checked to have stopped.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from apphelpers import TIMEOUT, drop, pause, wait_frames, window_factory
from conftest import ROOT, write_video
from PySide6.QtCore import QPointF, Qt

from app.compose import compose
from gun.io.video import Frame, FrameSource, SourceError
from gun.render.annotate import render


@pytest.fixture
def windows(qtbot):
    yield from window_factory(qtbot)


def test_opens_on_the_bundled_sample(qtbot, windows, checkpoint: Path) -> None:
    window = windows("--weights", str(checkpoint))
    wait_frames(qtbot, window, 2)
    # the in-domain default: a CamVid driving clip with its ground truth, scored live
    assert window.state.source == str(ROOT / "assets" / "camvid_0016E5.mp4")
    assert window.canvas.image().width() == 480 and window.canvas.image().height() == 360
    assert window.bundle.result is not None and window.bundle.frame.labels is not None
    qtbot.waitUntil(lambda: window.miou.isVisible() and "running mIoU" in window.miou.summary.text(), timeout=TIMEOUT)
    assert "tiny_gun" in window.model_label.text()
    assert window.state.class_names[0] == "Sky" and window.legend.list.count() == 11
    assert "FPS" in window.performance.summary.text() and "inference" in window.performance.latency_key.text()
    assert window.seek_slider.isEnabled() and window.seek_slider.maximum() == 60


def test_missing_weights_is_a_message_and_frames_still_play(qtbot, windows, tmp_path: Path, video: Path) -> None:
    window = windows(str(video), "--weights", str(tmp_path / "nope.safetensors"))
    wait_frames(qtbot, window, 1)
    assert window.banner_row.isVisible() and "not found" in window.banner.text()
    assert window.bundle.result is None
    assert np.array_equal(window.last_render, window.bundle.frame.image)


def test_drop_a_video_plays_it(qtbot, windows, checkpoint: Path, tmp_path: Path) -> None:
    window = windows("--weights", str(checkpoint))
    wait_frames(qtbot, window, 1)
    clip = write_video(tmp_path / "dropped.avi", frames=20, size=(64, 96))
    drop(window, clip)
    qtbot.waitUntil(lambda: window.state.source == str(clip), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.bundle.frame.image.shape == (64, 96, 3) and window.bundle.result is not None,
                    timeout=TIMEOUT)
    assert window.windowTitle() == "GUN: dropped.avi"
    assert window.seek_slider.maximum() == 19


def test_toggles_change_what_is_drawn(qtbot, windows, checkpoint: Path, video: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    qtbot.waitUntil(lambda: window.bundle is not None and window.bundle.result is not None, timeout=TIMEOUT)
    pause(qtbot, window)
    state, frame = window.state, window.bundle.frame.image
    assert window.bundle.result.labels_bilinear is None  # the GUM alone is shown and nothing is scored
    with_overlay = window.last_render.copy()
    assert not np.array_equal(with_overlay, frame)
    state.overlay = False
    assert np.array_equal(window.last_render, frame)
    assert not window.actions["overlay"].isChecked()  # the toolbar follows the state
    state.arrows = True
    arrows = window.last_render.copy()
    assert not np.array_equal(arrows, frame)
    state.arrows, state.flow = False, True
    assert not np.array_equal(window.last_render, frame) and not np.array_equal(window.last_render, arrows)
    state.flow, state.overlay = False, True
    state.alpha = 0.9
    assert window.alpha_slider.value() == 90
    assert not np.array_equal(window.last_render, with_overlay)
    # hiding the most frequent class through the legend leaves its pixels unpainted
    labels = window.bundle.result.labels_gum
    top = int(np.bincount(labels.ravel()).argmax())
    window.legend.list.item(top).setCheckState(Qt.CheckState.Unchecked)
    assert state.visible[top] is False
    assert np.array_equal(window.last_render[labels == top], frame[labels == top])
    state.decoder = "bilinear"
    assert window.decoder_combo.currentText() == "bilinear"
    # the worker decodes the paused frame again, now with the bilinear labels, and the view shows them
    qtbot.waitUntil(lambda: window.bundle.result.labels_bilinear is not None, timeout=TIMEOUT)
    result = window.bundle.result
    qtbot.waitUntil(lambda: np.array_equal(window.last_render, render(frame, result, state.view(), state.class_names,
                                                                       state.palette)), timeout=TIMEOUT)


def test_side_by_side_shows_both_decoders(qtbot, windows, checkpoint: Path, video: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint), "--view", "side-by-side")
    qtbot.waitUntil(lambda: window.bundle is not None and window.bundle.result is not None, timeout=TIMEOUT)
    pause(qtbot, window)
    bundle = window.bundle
    H, W = bundle.frame.image.shape[:2]
    # a 2 x 2 grid: GUM | bilinear over disagreement | offsets (no ground truth here)
    assert window.last_render.shape == (2 * H, 2 * W, 3)
    assert window.canvas._panels == (2, 2)
    assert window.actions["layout_side_by_side"].isChecked()
    expected, _ = compose(bundle.frame.image, bundle.result, None, window.state.view(), window.state.class_names,
                          window.state.palette)
    assert np.array_equal(window.last_render, expected)
    gum, bilinear = window.last_render[:H, :W], window.last_render[:H, W:]
    assert (bundle.result.labels_gum != bundle.result.labels_bilinear).any()
    assert not np.array_equal(gum[H // 2:], bilinear[H // 2:])  # below the captions
    # a click in any panel inspects the same frame pixel
    assert window.canvas.to_frame(window.canvas._to_widget(10.5, 20.5, (1, 1))) == (10, 20)
    window.state.layout = "wipe"
    assert window.last_render.shape == (H, W, 3) and window.canvas._wipe == 0.5
    window.canvas.wipeDragged.emit(0.2)
    assert window.state.wipe == 0.2


def test_export_round_trip(qtbot, windows, checkpoint: Path, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "in.avi", frames=10)
    window = windows(str(clip), "--weights", str(checkpoint))
    wait_frames(qtbot, window, 1)
    dialog = window.open_export_dialog()
    out = tmp_path / "export" / "annotated.mp4"
    dialog.path.setText(str(out))
    dialog.view.setCurrentText("side-by-side")
    dialog.all_frames.setChecked(False)
    dialog.frames.setValue(6)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.finished_ok is not None, timeout=TIMEOUT)
    assert dialog.finished_ok, dialog.status.text()
    assert "exported 6 frames" in dialog.status.text()
    assert dialog.progress.value() == 6
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (3 * 128, 96)
    assert cap.read()[0]
    cap.release()
    assert out.with_suffix(".csv").exists()
    dialog.close()
    wait_frames(qtbot, window, 1)  # playback resumed


def test_cancelled_export_leaves_no_file(qtbot, windows, checkpoint: Path, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "long.avi", frames=60)
    window = windows(str(clip), "--weights", str(checkpoint))
    wait_frames(qtbot, window, 1)
    dialog = window.open_export_dialog()
    out = tmp_path / "export" / "cancelled.mp4"
    dialog.path.setText(str(out))
    assert dialog.all_frames.isChecked()
    window.worker.exportProgress.connect(lambda done, total: dialog.cancel() if done == 2 else None)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.finished_ok is not None, timeout=TIMEOUT)
    assert dialog.finished_ok is False
    assert dialog.status.text() == "export cancelled: no file written"
    assert not out.exists() and not out.with_suffix(".csv").exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())  # nothing left, not even a partial
    assert dialog.cancel_button.text() == "Close"
    dialog.close()


def test_dropped_non_video_file_is_a_message_not_a_crash(qtbot, windows, checkpoint: Path, tmp_path: Path,
                                                         video: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    wait_frames(qtbot, window, 1)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    drop(window, notes)
    qtbot.waitUntil(lambda: window.banner_row.isVisible(), timeout=TIMEOUT)
    assert "notes.txt" in window.banner.text()
    assert window.state.error
    bad_weights = tmp_path / "bad.safetensors"
    bad_weights.write_bytes(b"\0" * 100)
    drop(window, bad_weights)
    qtbot.waitUntil(lambda: "cannot load weights" in window.banner.text(), timeout=TIMEOUT)
    assert "tiny_gun" in window.model_label.text()  # the previous model stays
    wait_frames(qtbot, window, 2)  # and the video keeps playing
    assert window.state.source == str(video)


class FailingCamera(FrameSource):
    """A file-backed stand-in for a webcam that is unplugged after a few frames."""

    live = True

    def __init__(self, path: Path, fail_after: int) -> None:
        self.cap, self.name, self.fail_after, self.n = cv2.VideoCapture(str(path)), "camera 0", fail_after, 0

    def read(self) -> Frame | None:
        if self.n >= self.fail_after:
            raise SourceError("camera 0 stopped delivering frames (disconnected?)")
        _, image = self.cap.read()
        self.n += 1
        return Frame(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), self.n - 1, 0.0)

    def close(self) -> None:
        self.cap.release()


def test_camera_failing_mid_stream_is_reported(qtbot, windows, checkpoint: Path, video: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    wait_frames(qtbot, window, 1)
    window.open_source(FailingCamera(video, fail_after=4))
    qtbot.waitUntil(lambda: "stopped delivering" in window.banner.text(), timeout=TIMEOUT)
    assert window.banner_row.isVisible()
    assert not window.state.playing
    assert window.source_info.live and not window.seek_slider.isEnabled()
    assert window.workers.thread.isRunning()
    window.open_source(str(video))  # recovers with another source
    qtbot.waitUntil(lambda: window.state.playing, timeout=TIMEOUT)
    wait_frames(qtbot, window, 1)


class MislabelledClip(FrameSource):
    """A labelled file whose ground truth has the wrong size: every frame fails to score."""

    def __init__(self, path: Path) -> None:
        self.cap, self.name, self.n = cv2.VideoCapture(str(path)), "mislabelled", 0

    def read(self) -> Frame | None:
        ok, image = self.cap.read()
        if not ok:
            return None
        self.n += 1
        return Frame(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), self.n - 1, 0.0, labels=np.zeros((3, 5), np.uint8))

    def close(self) -> None:
        self.cap.release()


def test_a_frame_that_cannot_be_scored_is_a_message_and_play_goes_on(qtbot, windows, checkpoint: Path,
                                                                     video: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    wait_frames(qtbot, window, 1)
    window.open_source(MislabelledClip(video))
    qtbot.waitUntil(lambda: "cannot score this frame" in window.banner.text(), timeout=TIMEOUT)
    drawn = window.frames_drawn
    qtbot.waitUntil(lambda: window.frames_drawn >= drawn + 3, timeout=TIMEOUT)  # still playing, still drawn
    assert window.state.playing and window.bundle.result is not None and not window.bundle.scores


def test_switch_weights_and_precision_at_run_time(qtbot, windows, checkpoint: Path, checkpoint_bilinear: Path,
                                                   video: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    qtbot.waitUntil(lambda: window.model is not None, timeout=TIMEOUT)
    window.state.dtype = "bfloat16"
    qtbot.waitUntil(lambda: window.model.dtype == "bfloat16", timeout=TIMEOUT)
    assert "bfloat16" in window.model_label.text()
    assert not window.device_combo.model().item(2).isEnabled() or window.model.cuda_available
    drop(window, checkpoint_bilinear)
    qtbot.waitUntil(lambda: "bilinear only" in window.model_label.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.bundle is not None and window.bundle.result is not None and window.bundle.result.offsets is None, timeout=TIMEOUT)
    assert window.state.weights == str(checkpoint_bilinear)


def test_pause_step_seek_and_pixel_probe(qtbot, windows, checkpoint: Path, video: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    qtbot.waitUntil(lambda: window.bundle is not None and window.bundle.result is not None, timeout=TIMEOUT)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not window.state.playing, timeout=TIMEOUT)
    window.worker.seek(5)
    qtbot.waitUntil(lambda: window.bundle.frame.index == 5, timeout=TIMEOUT)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.bundle.frame.index == 6, timeout=TIMEOUT)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: window.bundle.frame.index == 5, timeout=TIMEOUT)
    assert "frame 6 / 12" in window.frame_label.text()
    window.worker.seek(11)
    qtbot.waitUntil(lambda: window.bundle.frame.index == 11, timeout=TIMEOUT)
    qtbot.keyClick(window, Qt.Key.Key_Right)  # past the last frame: wraps, as playback loops
    qtbot.waitUntil(lambda: window.bundle.frame.index == 0, timeout=TIMEOUT)
    assert not window.state.playing
    window.worker.set_playback(loop=False, paced=True)
    window.worker.seek(11)
    qtbot.waitUntil(lambda: window.bundle.frame.index == 11, timeout=TIMEOUT)
    before = window.frames_drawn
    qtbot.keyClick(window, Qt.Key.Key_Right)  # without looping the last frame stays
    qtbot.wait(300)
    assert window.frames_drawn == before and window.bundle.frame.index == 11
    centre = window.canvas.rect().center()
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, pos=centre)
    text = window.inspector.label.text()
    assert "offset" in text and "GUM" in text and "sampled" in text
    assert window.canvas._probe is not None and window.canvas._cell is not None
    assert window.canvas.to_frame(QPointF(-5, -5)) is None


def test_shortcuts_and_help_panel(qtbot, windows, checkpoint: Path, video: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    qtbot.waitUntil(lambda: window.bundle is not None and window.bundle.result is not None, timeout=TIMEOUT)
    for key, field, value in ((Qt.Key.Key_B, "layout", "side-by-side"), (Qt.Key.Key_W, "layout", "wipe"),
                              (Qt.Key.Key_G, "arrows", True), (Qt.Key.Key_F, "flow", True),
                              (Qt.Key.Key_O, "overlay", False), (Qt.Key.Key_D, "decoder", "bilinear")):
        qtbot.keyClick(window, key)
        assert getattr(window.state, field) == value, key
    qtbot.keyClick(window, Qt.Key.Key_Minus)
    assert window.state.alpha == pytest.approx(0.4)
    help_text = window.help.label.text()
    for key in ("Space", "G", "B", "E", "Left", "Right"):
        assert f"<b>{key}" in help_text
    qtbot.keyClick(window, Qt.Key.Key_E)
    assert window.export_dialog is not None and window.export_dialog.isVisible()
    window.export_dialog.close()


@pytest.mark.parametrize("source", ["missing.avi", "image.png"])
def test_scripted_run_finishes_even_if_the_source_fails_or_ends(qtbot, windows, checkpoint: Path, tmp_path: Path,
                                                                source: str) -> None:
    cv2.imwrite(str(tmp_path / "image.png"), np.full((64, 96, 3), 90, np.uint8))
    with qtbot.waitSignal(windows(str(tmp_path / source), "--weights", str(checkpoint), "--frames", "20")
                          .framesLimitReached, timeout=TIMEOUT):
        pass


def test_gui_modules_do_not_import_torch() -> None:
    import os
    import subprocess
    import sys

    code = ("import sys; import app.window, app.views.plots, app.views.legend, app.views.export, main; "
            "bad = [m for m in ('torch',) if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_full_speed_lifts_the_videos_frame_rate(qtbot, windows, checkpoint: Path, tmp_path: Path) -> None:
    from app.playback import Playback

    slow = write_video(tmp_path / "slow.avi", frames=6, fps=2.0)
    playback = Playback()
    playback.open(str(slow))
    try:
        playback.start_clock()
        assert 400 < playback.delay_ms() <= 500  # at the video's 2 FPS, the next frame is due in 0.5 s
        playback.paced = False
        assert playback.delay_ms() == 0.0  # full speed: as soon as the model is done
    finally:
        playback.close()
    # in the window: the command line, the check box and the worker agree
    window = windows(str(slow), "--weights", str(checkpoint), "--full-speed")
    assert window.state.full_speed and window.actions["full_speed"].isChecked()
    qtbot.waitUntil(lambda: window.worker.playback.paced is False, timeout=TIMEOUT)
    wait_frames(qtbot, window, 4)  # opened and playing: its messages are out
    summary = window.performance.summary
    assert "FPS" in summary.text() and "the video's rate" not in summary.text()
    window.actions["full_speed"].trigger()
    assert not window.state.full_speed
    qtbot.waitUntil(lambda: window.worker.playback.paced is True, timeout=TIMEOUT)
    assert "frame rate" in window.statusBar().currentMessage()
    # held to the clip's 2 FPS, the meter says the rate is the video's, not the pipeline's
    qtbot.waitUntil(lambda: "the video's rate" in summary.text(), timeout=TIMEOUT)
