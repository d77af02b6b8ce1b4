"""The app as a new user meets it (issue 11): each numbered item, checked on a real window with
real decoding and real (tiny) checkpoints, offscreen."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from apphelpers import TIMEOUT, drop, pause, shipped_pair_in, wait_frames, wait_result, window_factory
from conftest import ROOT, synthetic_frame, write_video
from PySide6.QtCore import QPoint, QRect, Qt

from app.compose import compose
from app.views.plots import MIN_PLOT
from app.window import fitted_geometry
from gun.render.annotate import VIEWS, flow_wheel, render

CLIP = ROOT / "assets" / "camvid_0016E5.mp4"


@pytest.fixture
def windows(qtbot):
    yield from window_factory(qtbot)


@pytest.fixture(scope="module")
def shipped_pair(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path, checkpoint_bilinear: Path) -> Path:
    return shipped_pair_in(tmp_path_factory.mktemp("shipped"), checkpoint, checkpoint_bilinear)


def _no_banner(window) -> bool:
    return not window.banner_row.isVisible() and not window.presenter.errors


# 1 --------------------------------------------------------------------------------------------------
def test_failed_cuda_start_is_repaired_by_choosing_cpu(qtbot, windows, checkpoint: Path, video: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: a --device cuda start does not fail")
    window = windows(str(video), "--weights", str(checkpoint), "--device", "cuda")
    qtbot.waitUntil(lambda: "CUDA" in window.banner.text(), timeout=TIMEOUT)
    assert window.model is None
    wait_frames(qtbot, window, 1)  # frames play without a model
    assert window.bundle.result is None
    window.device_combo.setCurrentText("cpu")  # what the message says to do, from the window
    qtbot.waitUntil(lambda: window.model is not None, timeout=TIMEOUT)
    assert window.model.device == "cpu" and "tiny_gun" in window.model_label.text()
    wait_result(qtbot, window)
    assert _no_banner(window)


# 2 --------------------------------------------------------------------------------------------------
def test_error_banner_clears_on_the_next_success(qtbot, windows, checkpoint: Path, checkpoint_bilinear: Path,
                                                 video: Path, tmp_path: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    wait_result(qtbot, window)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01garbage" * 100)
    drop(window, corrupt)
    qtbot.waitUntil(lambda: "corrupt.mp4" in window.banner.text() and window.banner_row.isVisible(), timeout=TIMEOUT)
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), cv2.cvtColor(synthetic_frame(3, (64, 96)), cv2.COLOR_RGB2BGR))
    drop(window, image)  # a source that opens: the source error goes
    qtbot.waitUntil(lambda: window.state.source == str(image), timeout=TIMEOUT)
    assert _no_banner(window)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\0" * 64)
    drop(window, bad)
    qtbot.waitUntil(lambda: "cannot load weights" in window.banner.text(), timeout=TIMEOUT)
    drop(window, checkpoint_bilinear)  # weights that load: the weights error goes
    qtbot.waitUntil(lambda: window.model is not None and window.model.path == str(checkpoint_bilinear), timeout=TIMEOUT)
    assert _no_banner(window)
    window.open_source("camera:63")  # no such camera here
    qtbot.waitUntil(lambda: "camera 63" in window.banner.text(), timeout=TIMEOUT)
    window.open_source(str(video))
    qtbot.waitUntil(lambda: window.state.source == str(video), timeout=TIMEOUT)
    wait_frames(qtbot, window, 1)
    assert _no_banner(window)


# 3 --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(1280, 720), (1366, 768), (1024, 700)])
def test_window_reflows_to_small_sizes(qtbot, windows, checkpoint: Path, video: Path, size: tuple[int, int]) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    wait_result(qtbot, window)
    window.setGeometry(fitted_geometry(QRect(0, 0, *size)))
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=TIMEOUT)
    qtbot.wait(50)
    assert window.minimumSizeHint().width() <= size[0] and window.minimumSizeHint().height() <= size[1]
    for bar in window.toolbars:  # every toolbar command shown, none behind a "»"
        assert bar.isVisible() and bar.geometry().right() <= window.width()
        for action in bar.actions():
            widget = bar.widgetForAction(action)
            assert widget is not None and widget.isVisible(), (bar.windowTitle(), action.text())
    for plot in (window.performance.fps_plot, window.performance.latency_plot):
        assert plot.width() >= MIN_PLOT[0] and plot.height() >= MIN_PLOT[1]
    for widget in (window.canvas, window.seek_slider, window.statusBar(), window.legend, window.meters):
        top_left = widget.mapTo(window, QPoint(0, 0))
        assert QRect(top_left, widget.size()).intersects(window.rect()) and window.rect().contains(top_left), widget
    assert window.canvas.width() >= 400 and window.canvas.height() >= 300


def test_window_is_sized_from_the_screen() -> None:
    assert fitted_geometry(QRect(0, 0, 1366, 768)) == QRect(0, 0, 1366, 768)
    assert fitted_geometry(QRect(0, 24, 1280, 696)) == QRect(0, 24, 1280, 696)
    assert fitted_geometry(QRect(0, 0, 2560, 1440)) == QRect(560, 270, 1440, 900)


# 4 --------------------------------------------------------------------------------------------------
def test_seek_bar_moves_the_frame_while_paused(qtbot, windows, checkpoint: Path, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "long.avi", frames=40, size=(64, 96))
    window = windows(str(clip), "--weights", str(checkpoint))
    wait_result(qtbot, window)
    pause(qtbot, window)
    slider = window.seek_slider
    shown = window.bundle.frame.index
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_End)  # as the keyboard moves it
    qtbot.waitUntil(lambda: window.bundle.frame.index == 39, timeout=TIMEOUT)
    assert slider.value() == 39 and "frame 40 / 40" in window.frame_label.text()
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() // 4, slider.height() // 2))  # the groove
    qtbot.waitUntil(lambda: slider.value() != 39, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.bundle.frame.index == slider.value(), timeout=TIMEOUT)
    assert window.bundle.frame.index != shown or shown != 39
    assert f"frame {slider.value() + 1} / 40" in window.frame_label.text()
    assert not window.state.playing


# 5 --------------------------------------------------------------------------------------------------
def test_fps_meter_says_paused_or_still_and_gives_latency(qtbot, windows, checkpoint: Path, video: Path, tmp_path: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    wait_result(qtbot, window)
    pause(qtbot, window)
    before = window.frames_drawn
    qtbot.keyClick(window, Qt.Key.Key_Right)  # wherever the pause fell, the last frame included
    qtbot.waitUntil(lambda: window.frames_drawn > before, timeout=TIMEOUT)
    # the summary is refreshed with the frame's timings, which may land just after the frame itself
    qtbot.waitUntil(lambda: "this frame took" in window.performance.summary.text(), timeout=TIMEOUT)
    text = window.performance.summary.text()
    assert "paused" in text and "this frame took" in text and " ms" in text
    assert "FPS</b>" not in text
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), cv2.cvtColor(synthetic_frame(0, (64, 96)), cv2.COLOR_RGB2BGR))
    window.open_source(str(image))
    qtbot.waitUntil(lambda: window.state.source == str(image) and window.bundle.frame.image.shape == (64, 96, 3), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "still image" in window.performance.summary.text(), timeout=TIMEOUT)
    assert "FPS</b>" not in window.performance.summary.text()
    latency = window.performance._stage_curves["inference"].getData()[1]
    assert latency is not None and len(latency) >= 1 and latency[-1] > 0


# 6 --------------------------------------------------------------------------------------------------
def test_drawn_things_leave_content_visible(qtbot, windows, checkpoint: Path, segmenter) -> None:
    frame = cv2.resize(cv2.cvtColor(cv2.imread(str(ROOT / "assets" / "leuvenA.jpg")), cv2.COLOR_BGR2RGB), (384, 288))
    result = segmenter(frame)
    names, palette = segmenter.class_names, segmenter.palette
    H, W = frame.shape[:2]
    # the legend of an export sits on the disagreement panel, not on the GUM panel
    grid = render(frame, result, VIEWS["grid"], names, palette)
    bare = render(frame, result, VIEWS["grid"].__class__(**{**VIEWS["grid"].__dict__, "legend": False}), names, palette)
    assert np.array_equal(grid[:H, :W], bare[:H, :W]) and not np.array_equal(grid[H:, :W], bare[H:, :W])
    # the offsets view: flow colours without the class overlay, white arrows, the wheel clear of the caption
    offsets = render(frame, result, VIEWS["offsets"], names, palette)
    flow_only = render(frame, result, VIEWS["offsets"].__class__(overlay=False, flow=True), names, palette)
    with_overlay = render(frame, result, VIEWS["offsets"].__class__(overlay=True, flow=True), names, palette)
    assert np.array_equal(with_overlay, flow_only)
    arrows = np.any(offsets != flow_only, axis=2)[: H - 48]  # above the caption
    assert arrows.sum() > 50
    pixels = offsets[: H - 48][arrows].astype(int)
    grey = (np.abs(pixels[:, 0] - pixels[:, 1]) < 40) & (np.abs(pixels[:, 1] - pixels[:, 2]) < 40)
    assert grey.mean() > 0.75, grey.mean()  # white arrows with dark outlines, not hues lost in the flow colours
    size = max(32, H // 8)
    wheel = flow_wheel(size)
    inside = wheel.any(axis=2)
    assert np.array_equal(flow_only[H - size - 8:H - 8, W - size - 8:W - 8][inside], wheel[inside])  # bottom right
    # plots: legends above the curves, every series named in full
    window = windows("--weights", str(checkpoint), "--view", "side-by-side")
    qtbot.waitUntil(lambda: window.miou.plot.isVisible(), timeout=TIMEOUT)
    for plot in (window.performance.fps_plot, window.performance.latency_plot, window.miou.plot, window.miou.trimap_plot):
        assert plot.getPlotItem().legend is None
    assert "GUN's bilinear" in window.miou.summary.text() and "model alone" in window.performance.fps_key.text()
    assert "inference" in window.performance.latency_key.text()
    # the disagreement colours, explained under the canvas
    assert window.key_label.isVisible()
    for words in ("only GUM right", "only bilinear right", "both wrong", "agree"):
        assert words in window.key_label.text()


# 7 --------------------------------------------------------------------------------------------------
def test_help_keeps_the_legend_visible_and_no_gap_without_ground_truth(qtbot, windows, checkpoint: Path, video: Path) -> None:
    window = windows("--weights", str(checkpoint))
    qtbot.waitUntil(lambda: window.miou.isVisible(), timeout=TIMEOUT)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert window.help.isVisible() and window.help.width() >= 400
    assert window.legend_dock.isVisible() and not window.legend.list.visibleRegion().isEmpty()
    window.help.hide()
    window.open_source(str(video))  # no ground truth
    qtbot.waitUntil(lambda: window.state.source == str(video), timeout=TIMEOUT)
    wait_frames(qtbot, window, 1)
    qtbot.wait(50)
    assert not window.miou.isVisible()
    room = window.meters.height()
    assert window.performance.height() >= room - 12, (window.performance.height(), room)


# 8 --------------------------------------------------------------------------------------------------
def test_screenshots_go_to_pictures_with_absolute_paths(qtbot, windows, checkpoint: Path, video: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(cwd)
    window = windows(str(video), "--weights", str(checkpoint))
    wait_result(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_S)
    saved = list((home / "Pictures" / "GUN").glob("*.png"))
    assert len(saved) == 1 and not any(cwd.iterdir())
    assert str(saved[0]) in window.statusBar().currentMessage() and Path(window.state.message.split("saved ")[1]).is_absolute()


def test_export_dialog_remembers_and_estimates(qtbot, windows, checkpoint: Path, video: Path, tmp_path: Path) -> None:
    window = windows(str(video), "--weights", str(checkpoint))
    wait_frames(qtbot, window, 4)
    dialog = window.open_export_dialog()
    assert "about" in dialog.estimate.text() and "FPS" in dialog.estimate.text()
    dialog.path.setText(str(tmp_path / "out" / "mine.mp4"))
    dialog.view.setCurrentText("offsets")
    dialog.all_frames.setChecked(False)
    dialog.frames.setValue(7)
    assert "7 frames" in dialog.estimate.text()
    dialog.close()
    again = window.open_export_dialog()
    assert again is not dialog
    assert again.path.text() == str(tmp_path / "out" / "mine.mp4")
    assert again.view.currentText() == "offsets" and not again.all_frames.isChecked() and again.frames.value() == 7
    again.close()


# 9 --------------------------------------------------------------------------------------------------
def test_dropping_a_dataset_root_or_several_files(qtbot, windows, checkpoint: Path, tmp_path: Path) -> None:
    root = tmp_path / "CamVid"
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i in range(3):
            cv2.imwrite(str(root / split / f"f{i}.png"), cv2.cvtColor(synthetic_frame(i, (64, 96)), cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(root / f"{split}annot" / f"f{i}.png"), np.full((64, 96), i, np.uint8))
    window = windows(str(root / "train"), "--weights", str(checkpoint))
    wait_frames(qtbot, window, 1)
    drop(window, root)
    qtbot.waitUntil(lambda: window.state.source == str(root / "val"), timeout=TIMEOUT)
    assert "dataset root" in window.state.message and "val/" in window.state.message and "train" in window.state.message
    wait_frames(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.bundle.frame.labels is not None, timeout=TIMEOUT)
    first, second = write_video(tmp_path / "first.avi", frames=5), write_video(tmp_path / "second.avi", frames=5)
    drop(window, first, second)
    qtbot.waitUntil(lambda: window.state.source == str(first), timeout=TIMEOUT)
    assert "2 files dropped" in window.state.message and "first.avi" in window.state.message
    assert "ignored second.avi" in window.state.message


# 10 -------------------------------------------------------------------------------------------------
def test_exported_image_folder_keeps_its_pace(qtbot, windows, checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "stills"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(synthetic_frame(i, (64, 96)), cv2.COLOR_RGB2BGR))
    window = windows(str(folder), "--weights", str(checkpoint))
    wait_frames(qtbot, window, 1)
    dialog = window.open_export_dialog()
    out = tmp_path / "stills.mp4"
    dialog.path.setText(str(out))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.finished_ok is not None, timeout=TIMEOUT)
    assert dialog.finished_ok, dialog.status.text()
    fps = cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS)
    with open(out.with_suffix(".csv"), newline="") as f:
        times = [float(row["time_s"]) for row in csv.DictReader(f)]
    assert len(times) == 5
    assert np.allclose(np.diff(times), 1.0 / fps, atol=1e-3), (times, fps)
    dialog.close()


# the twin and the in-domain default -----------------------------------------------------------------
def test_the_twin_runs_beside_the_gun_with_its_own_curves(qtbot, windows, shipped_pair: Path) -> None:
    window = windows(str(CLIP), "--weights", str(shipped_pair), "--view", "side-by-side")
    qtbot.waitUntil(lambda: window.bundle is not None and window.bundle.twin is not None, timeout=TIMEOUT)
    assert window.model.twin and "bilinear_effnet_camvid" in window.model_label.text()
    pause(qtbot, window)
    bundle = window.bundle
    H, W = bundle.frame.image.shape[:2]
    assert window.last_render.shape == (2 * H, 2 * W, 3) and window.canvas._panels == (2, 2)
    state = window.state
    expected, _ = compose(bundle.frame.image, bundle.result, bundle.twin, state.view(), state.class_names, state.palette)
    assert np.array_equal(window.last_render, expected)
    twin_panel = render(bundle.frame.image, bundle.twin, state.view().__class__(decoder="bilinear", alpha=state.alpha),
                        state.class_names, state.palette)
    assert np.array_equal(window.last_render[H + H // 4:, :W], twin_panel[H // 4:])  # below the caption
    assert not np.array_equal(bundle.twin.labels_gum, bundle.result.labels_gum)  # another network
    for key in ("running_miou_gum", "running_miou_bilinear", "running_miou_twin"):
        assert 0.0 <= bundle.scores[key] <= 1.0
    twin_curve = window.miou._curves["running_miou_twin"].getData()[1]
    assert twin_curve is not None and np.isfinite(twin_curve).any()
    assert "twin" in bundle.trimap and "twin" in window.miou.summary.text()
    assert bundle.timings["twin"] > 0


def test_the_twin_runs_only_while_the_side_by_side_view_shows_it(qtbot, windows, shipped_pair: Path) -> None:
    window = windows(str(CLIP), "--weights", str(shipped_pair))  # the default single view
    qtbot.waitUntil(lambda: window.model is not None and window.bundle is not None
                    and window.bundle.result is not None, timeout=TIMEOUT)
    assert window.model.twin  # loaded beside the GUN, but not run: a second network halves the FPS
    pause(qtbot, window)
    shown = window.bundle
    assert shown.twin is None and "twin" not in shown.timings
    assert "running_miou_gum" in shown.scores and "running_miou_twin" not in shown.scores
    window.presenter.commands()["layout_side_by_side"]()  # B: the paused frame is segmented again with the twin
    qtbot.waitUntil(lambda: window.bundle.twin is not None, timeout=TIMEOUT)
    assert window.bundle.frame.index == shown.frame.index
    assert window.bundle.timings["twin"] > 0 and "running_miou_twin" in window.bundle.scores
    assert window.canvas._panels == (2, 2)
    window.presenter.commands()["layout_side_by_side"]()  # B again: one panel, and the twin stops
    before = window.frames_drawn
    window.worker.step(1)
    qtbot.waitUntil(lambda: window.frames_drawn > before, timeout=TIMEOUT)
    assert window.bundle.frame.index == shown.frame.index + 1 and window.bundle.twin is None
