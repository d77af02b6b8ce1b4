"""The numpy/OpenCV annotators, on hand-made FrameResults (no model)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from gun.render.annotate import (
    BILINEAR_RIGHT,
    BOTH_WRONG,
    DIFFER,
    GUM_RIGHT,
    LAYOUTS,
    VIEWS,
    DisagreementAnnotator,
    LegendAnnotator,
    OffsetArrowAnnotator,
    OffsetColourAnnotator,
    OverlayAnnotator,
    ViewSettings,
    colorize,
    disagreement,
    draw_legend,
    flow_wheel,
    offset_arrows,
    offset_colours,
    overlay,
    render,
    rendered_size,
    side_by_side,
    wipe,
)
from gun.runtime.result import FrameResult

H, W = 48, 64
PALETTE = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
NAMES = ("red", "green", "blue")


def make_result(offset: tuple[float, float] | None = (0.5, 0.0)) -> FrameResult:
    gum = np.zeros((H, W), np.uint8)
    gum[:, W // 2:] = 1
    bilinear = gum.copy()
    bilinear[:, W // 2 - 3: W // 2 + 3] = 2
    offsets = None
    if offset is not None:
        offsets = np.empty((2, H, W), np.float32)
        offsets[0], offsets[1] = offset
    return FrameResult(gum, bilinear, offsets, np.zeros((3, H // 8, W // 8), np.float32), (8.0, 8.0),
                       {"inference": 1.0})


@pytest.fixture
def frame() -> np.ndarray:
    return np.full((H, W, 3), 100, np.uint8)


def test_colorize_uses_the_palette_and_blacks_out_ignored_pixels() -> None:
    labels = np.array([[0, 1], [2, 255]], np.uint8)
    assert colorize(labels, PALETTE).tolist() == [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [0, 0, 0]]]


def test_overlay_alpha_visibility_and_no_in_place_change(frame: np.ndarray) -> None:
    labels = make_result().labels_gum
    original = frame.copy()
    assert np.array_equal(overlay(frame, labels, PALETTE, alpha=0.0), frame)
    full = overlay(frame, labels, PALETTE, alpha=1.0)
    assert full[0, 0].tolist() == [255, 0, 0] and full[0, -1].tolist() == [0, 255, 0]
    half = overlay(frame, labels, PALETTE, alpha=0.5)
    assert half[0, 0].tolist() == pytest.approx([178, 50, 50], abs=1)
    hidden = overlay(frame, labels, PALETTE, alpha=1.0, visible=(False, True, True))
    assert hidden[0, 0].tolist() == [100, 100, 100] and hidden[0, -1].tolist() == [0, 255, 0]
    assert np.array_equal(frame, original)
    # crops (non-contiguous views, as a padded model output cropped to the frame) work the same
    assert np.array_equal(overlay(frame[:, 1:], labels[:, 1:], PALETTE, 0.5), half[:, 1:])


def test_offset_colours_hue_is_direction_and_value_is_magnitude() -> None:
    offsets = np.zeros((2, 2, 2), np.float32)
    offsets[:, 0, 0] = (1.0, 0.0)  # +x
    offsets[:, 0, 1] = (0.0, 1.0)  # +y (down)
    offsets[:, 1, 0] = (-0.5, 0.0)  # -x, half length
    colours, top = offset_colours(offsets, max_magnitude=1.0)
    hsv = cv2.cvtColor(colours, cv2.COLOR_RGB2HSV).astype(int)
    assert top == 1.0
    assert hsv[0, 0, 0] in (0, 179) and hsv[0, 0, 2] == 255  # red, full brightness
    assert hsv[0, 1, 0] == pytest.approx(45, abs=1)  # 90 degrees
    assert hsv[1, 0, 0] == pytest.approx(90, abs=1) and hsv[1, 0, 2] == pytest.approx(127, abs=1)
    assert colours[1, 1].tolist() == [0, 0, 0]  # no offset: black
    _, auto = offset_colours(offsets)  # per-frame scale: the 99th percentile
    assert 0.9 < auto <= 1.0
    wheel = flow_wheel(33)
    assert wheel.shape == (33, 33, 3) and wheel[0, 0].tolist() == [0, 0, 0] and wheel[16, 32].any()


def test_offset_arrows_point_along_the_offsets_in_frame_pixels(frame: np.ndarray) -> None:
    zero = np.zeros((2, H, W), np.float32)
    unchanged, _ = offset_arrows(frame, zero, (8.0, 8.0), step=16)
    assert np.array_equal(unchanged, frame)
    right = np.zeros((2, H, W), np.float32)
    right[0] = 0.5  # half a low-res pixel = 4 frame pixels to the right
    drawn, gain = offset_arrows(frame, right, (8.0, 8.0), step=16)
    assert gain == pytest.approx(0.9 * 16 / 4)
    changed = np.argwhere((drawn != frame).any(axis=2))
    assert len(changed) > 0
    # arrows start at the grid points (x = 8, 24, ...) and go right, never left of their start
    assert changed[:, 1].min() >= 8 - 3
    one_to_one, g = offset_arrows(frame, right, (8.0, 8.0), step=16, gain=1.0)
    assert g == 1.0 and (one_to_one != frame).any()


def test_disagreement_without_and_with_ground_truth() -> None:
    result = make_result()
    image, stats = disagreement(result.labels_gum, result.labels_bilinear)
    differ = result.labels_gum != result.labels_bilinear
    assert stats["differ"] == pytest.approx(differ.mean())
    assert (image[differ] == DIFFER).all() and (image[~differ] == 0).all()
    truth = result.labels_gum.copy()
    truth[:, W // 2 - 1] = 2  # bilinear right on this column
    truth[:, W // 2 + 1] = 0  # both wrong here (gum says 1, bilinear says 2)
    truth[0, W // 2 - 3] = 255  # ignored
    image, stats = disagreement(result.labels_gum, result.labels_bilinear, truth)
    assert image[5, W // 2 - 1].tolist() == list(BILINEAR_RIGHT)
    assert image[5, W // 2 + 1].tolist() == list(BOTH_WRONG)
    assert image[5, W // 2 - 3].tolist() == list(GUM_RIGHT)
    assert image[0, W // 2 - 3].tolist() == list(DIFFER)
    assert stats["a_right"] + stats["b_right"] + stats["both_wrong"] < stats["differ"]


def test_annotators_do_nothing_without_guidance(frame: np.ndarray) -> None:
    result = make_result(offset=None)
    assert np.array_equal(OffsetArrowAnnotator().annotate(frame, result), frame)
    assert np.array_equal(OffsetColourAnnotator().annotate(frame, result), frame)


def test_annotators_share_one_signature(frame: np.ndarray) -> None:
    result = make_result()
    result.ground_truth = result.labels_gum
    for annotator in (OverlayAnnotator(PALETTE), OverlayAnnotator(PALETTE, decoder="bilinear"), OffsetArrowAnnotator(step=8),
                      OffsetColourAnnotator(), DisagreementAnnotator(), LegendAnnotator(NAMES, PALETTE)):
        out = annotator.annotate(frame, result)
        assert out.shape == frame.shape and out.dtype == np.uint8
        assert not np.array_equal(out, frame), type(annotator).__name__
    gum = OverlayAnnotator(PALETTE, alpha=1).annotate(frame, result)
    bil = OverlayAnnotator(PALETTE, alpha=1, decoder="bilinear").annotate(frame, result)
    assert not np.array_equal(gum, bil)


def test_legend_lists_present_classes(frame: np.ndarray) -> None:
    big = np.full((200, 300, 3), 100, np.uint8)
    all_three = draw_legend(big, NAMES, PALETTE)
    only_one = draw_legend(big, NAMES, PALETTE, present=(True, False, False))
    changed_rows = lambda img: np.argwhere((img != big).any(axis=2))[:, 0].max()
    assert changed_rows(all_three) > changed_rows(only_one)
    assert np.array_equal(draw_legend(big, NAMES, PALETTE, present=(False,) * 3), big)


@pytest.mark.parametrize("grid", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_render_sizes(frame: np.ndarray, layout: str, grid: bool) -> None:
    view = ViewSettings(layout=layout, arrows=True, flow=True, legend=True, grid=grid)  # type: ignore[arg-type]
    out = render(frame, make_result(), view, NAMES, PALETTE)
    assert (out.shape[1], out.shape[0]) == rendered_size((W, H), view)
    assert out.dtype == np.uint8
    if layout == "side-by-side":
        assert out.shape[:2] == ((2 * H, 2 * W) if grid else (H, 3 * W))


def test_grid_shows_ground_truth_when_there_is_some(frame: np.ndarray) -> None:
    result = make_result()
    view = ViewSettings(layout="side-by-side", grid=True, alpha=1.0)
    without = render(frame, result, view, NAMES, PALETTE)
    result.ground_truth = np.full((H, W), 2, np.uint8)
    with_truth = render(frame, result, view, NAMES, PALETTE)
    assert with_truth[H + H - 2, W + W // 2].tolist() == [0, 0, 255]  # the truth panel, class 2 everywhere
    assert not np.array_equal(without[H:, W:], with_truth[H:, W:])


def test_side_by_side_shows_gum_then_bilinear_then_disagreement(frame: np.ndarray) -> None:
    result = make_result()
    out = render(frame, result, ViewSettings(layout="side-by-side", alpha=1.0), NAMES, PALETTE)
    left, middle, right = out[:, :W], out[:, W:2 * W], out[:, 2 * W:]
    row = H - 2  # below the captions
    assert left[row, W // 2 - 1].tolist() == [255, 0, 0]  # GUM: class 0 left of the middle
    assert middle[row, W // 2 - 1].tolist() == [0, 0, 255]  # bilinear: class 2 on the band
    assert right[row, W // 2 - 1].tolist() == list(DIFFER)
    assert np.array_equal(side_by_side([(frame, ""), (frame, "")]), np.concatenate([frame, frame], axis=1))


def test_wipe_splits_at_its_position(frame: np.ndarray) -> None:
    a, b = np.zeros_like(frame), np.full_like(frame, 255)
    out = wipe(a, b, 0.25)
    assert out[H // 2, 5].tolist() == [0, 0, 0] and out[H // 2, W - 5].tolist() == [255, 255, 255]


def test_named_views_cover_the_command_line_choices(frame: np.ndarray) -> None:
    assert {"overlay", "offsets", "side-by-side"} <= set(VIEWS)
    result = make_result()
    offsets_view = render(frame, result, VIEWS["offsets"], NAMES, PALETTE)
    overlay_view = render(frame, result, replace(VIEWS["overlay"], legend=False), NAMES, PALETTE)
    assert not np.array_equal(offsets_view, overlay_view)


def test_drawing_and_sources_need_neither_torch_nor_qt() -> None:
    """gun.io, gun.render.annotate and gun.runtime.result are shared with the GUI: numpy and OpenCV only."""
    import subprocess
    import sys

    code = ("import sys, gun.io.video, gun.io.base, gun.io.sources, gun.io.folders, gun.io.prefetch, gun.io.sinks, gun.io.files, "
            "gun.render.annotate, gun.runtime.result, gun.commands.annotate; "
            "bad = [m for m in ('torch', 'PySide6', 'pyqtgraph', 'app') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("size", [(16, 16), (8, 8), (3, 5)])
@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_view_renders_tiny_frames(size: tuple[int, int], name: str) -> None:
    """Issue 10: `gun annotate --view grid` on a 16x16 video raised IndexError (the flow wheel did not fit)."""
    h, w = size
    labels = np.zeros((h, w), np.uint8)
    labels[:, w // 2:] = 1
    offsets = np.full((2, h, w), 0.5, np.float32)
    result = FrameResult(labels, labels.copy(), offsets, np.zeros((3, 1, 1), np.float32), (8.0, 8.0), {"inference": 1.0})
    result.ground_truth = labels
    out = render(np.full((h, w, 3), 100, np.uint8), result, VIEWS[name], NAMES, PALETTE)
    assert (out.shape[1], out.shape[0]) == rendered_size((w, h), VIEWS[name])


def test_arrows_never_cover_the_flow_colour_key() -> None:
    from gun.render.colours import flow_wheel
    from gun.render.views import VIEWS, render

    big = np.full((240, 320, 3), 100, np.uint8)
    offsets = np.empty((2, 240, 320), np.float32)
    offsets[0], offsets[1] = 1.5, 1.5  # long arrows everywhere, pointing into the bottom-right corner
    result = FrameResult(np.zeros((240, 320), np.uint8), np.zeros((240, 320), np.uint8), offsets,
                         np.zeros((3, 30, 40), np.float32), (8.0, 8.0, 0.0, 0.0))
    out = render(big, result, replace(VIEWS["offsets"], legend=False), NAMES, PALETTE)
    size = max(32, 240 // 8)
    disc = flow_wheel(size)
    inside = disc.any(axis=2)
    assert np.array_equal(out[-size - 8:-8, -size - 8:-8][inside], disc[inside])
