"""Drawing on frames with numpy and OpenCV only: label overlays, the offset field (arrows and flow
colours), the GUM-vs-bilinear disagreement map, side-by-side and wipe compositions, legends.

The GUI, the `gun annotate` command and the exporter share these. Every annotator is a small
object with `annotate(frame, result) -> frame` (frame: (H, W, 3) RGB uint8, never modified in
place; result: a gun.runtime.result.FrameResult); `render(frame, result, view, ...)` composes them for a
`ViewSettings`, which is what the app and the command line describe with their toggles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np

from gun.data.labels import IGNORE
from gun.runtime.result import FrameResult

Palette = Sequence[Sequence[int]]
Layout = Literal["single", "side-by-side", "wipe"]
LAYOUTS: tuple[str, ...] = ("single", "side-by-side", "wipe")

# Disagreement colours (RGB): the two decoders differ and ...
DIFFER = (255, 0, 255)  # ... there is no ground truth to say who is right
GUM_RIGHT = (0, 220, 0)  # ... GUM is right, bilinear wrong
BILINEAR_RIGHT = (255, 40, 40)  # ... bilinear is right, GUM wrong
BOTH_WRONG = (255, 210, 0)  # ... both are wrong

FONT = cv2.FONT_HERSHEY_SIMPLEX


def palette_lut(palette: Palette) -> np.ndarray:
    """(256, 3) uint8 colour table; ids beyond the palette (and 255 = ignore) are black."""
    lut = np.zeros((256, 3), np.uint8)
    colours = np.asarray(palette, np.uint8).reshape(-1, 3)[:255]
    lut[: len(colours)] = colours
    return lut


def colorize(labels: np.ndarray, palette: Palette) -> np.ndarray:
    """Label map (H, W) uint8 -> colour image (H, W, 3)."""
    # cv2.LUT on a 3-channel copy of the labels: several times faster than numpy's lut[labels]
    labels = np.ascontiguousarray(labels)
    return cv2.LUT(cv2.merge([labels, labels, labels]), palette_lut(palette).reshape(1, 256, 3))


def _font_scale(image: np.ndarray) -> float:
    return float(np.clip(image.shape[1] / 1100, 0.45, 1.5))


def draw_text(image: np.ndarray, text: str, org: tuple[int, int], scale: float | None = None,
              colour: tuple[int, int, int] = (255, 255, 255), background: bool = True) -> np.ndarray:
    """Put `text` with its top-left corner at `org`, on a dark box so that it reads on any frame."""
    scale = _font_scale(image) if scale is None else scale
    thickness = max(1, round(scale * 1.6))
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    x, y = org
    pad = max(2, round(4 * scale))
    if background:
        x0, y0 = max(x - pad, 0), max(y - pad, 0)
        x1, y1 = min(x + tw + pad, image.shape[1]), min(y + th + base + pad, image.shape[0])
        if x1 > x0 and y1 > y0:
            image[y0:y1, x0:x1] = (image[y0:y1, x0:x1] * 0.35).astype(np.uint8)
    cv2.putText(image, text, (x, y + th), FONT, scale, colour, thickness, cv2.LINE_AA)
    return image


def overlay(frame: np.ndarray, labels: np.ndarray, palette: Palette, alpha: float = 0.5,
            visible: Sequence[bool] | None = None) -> np.ndarray:
    """Blend class colours over the frame; hidden classes and ignored pixels stay unblended."""
    shown = np.full(256, 255, np.uint8)  # 255 = paint this label
    if visible is not None:
        shown[: len(visible)] = np.where(np.asarray(visible, bool), 255, 0)
    shown[IGNORE] = 0
    blended = cv2.addWeighted(frame, 1.0 - alpha, colorize(labels, palette), alpha, 0.0)
    out = frame.copy()
    cv2.copyTo(blended, cv2.LUT(np.ascontiguousarray(labels), shown), out)  # masked copy, much faster than out[mask] = ...
    return out


def offset_colours(offsets: np.ndarray, max_magnitude: float | None = None) -> tuple[np.ndarray, float]:
    """HSV flow colouring of (2, H, W) offsets: hue = direction, value = magnitude.

    Returns the RGB image and the magnitude shown at full brightness (`max_magnitude`, or the
    frame's 99th percentile when None) in the offsets' units.
    """
    dx, dy = offsets[0].astype(np.float32), offsets[1].astype(np.float32)
    magnitude, angle = cv2.cartToPolar(dx, dy, angleInDegrees=True)  # angle in [0, 360)
    if max_magnitude is None:
        max_magnitude = float(np.percentile(magnitude, 99)) if magnitude.size else 0.0
    max_magnitude = max(max_magnitude, 1e-6)
    hsv = np.empty(dx.shape + (3,), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)  # OpenCV hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / max_magnitude * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), max_magnitude


def flow_wheel(size: int = 64) -> np.ndarray:
    """The colour key of `offset_colours`: a disc whose colour at each point is that offset's."""
    r = (np.arange(size, dtype=np.float32) - (size - 1) / 2) / (size / 2)
    dx, dy = np.meshgrid(r, r)
    wheel, _ = offset_colours(np.stack([dx, dy]), max_magnitude=1.0)
    wheel[np.hypot(dx, dy) > 1.0] = 0
    return wheel


def _direction_colours(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """RGB colours (..., 3) of directions, matching offset_colours' hues."""
    hsv = np.empty(dx.shape + (3,), np.uint8)
    hsv[..., 0] = ((np.degrees(np.arctan2(dy, dx)) % 360) / 2).astype(np.uint8)
    hsv[..., 1], hsv[..., 2] = 200, 255
    return cv2.cvtColor(hsv.reshape(1, -1, 3), cv2.COLOR_HSV2RGB).reshape(hsv.shape)


def offset_arrows(frame: np.ndarray, offsets: np.ndarray, px_per_low_px: tuple[float, float],
                  step: int = 24, gain: float | None = None, max_gain: float = 20.0,
                  colour: tuple[int, int, int] | None = None) -> tuple[np.ndarray, float]:
    """Quiver plot of the offset field on a grid every `step` frame pixels.

    Offsets are in low-resolution pixels; an arrow's true length in the frame is the offset times
    `px_per_low_px`. Thus drawn they are often too short to see, so they are multiplied by `gain`
    (None: chosen so that the longest arrows fill about one grid cell, at most `max_gain`).
    Arrows are coloured by direction like `offset_colours`, or all `colour` (over flow colours,
    where a direction colour would vanish into its own hue). Returns (image, gain used).
    """
    out = frame.copy()
    H, W = offsets.shape[1:]
    ys = np.arange(step // 2, H, step)
    xs = np.arange(step // 2, W, step)
    if len(ys) == 0 or len(xs) == 0:
        return out, 1.0
    sx, sy = px_per_low_px
    u = offsets[0][np.ix_(ys, xs)] * sx  # (rows, cols) true displacement in frame pixels
    v = offsets[1][np.ix_(ys, xs)] * sy
    length = np.hypot(u, v)
    if gain is None:
        longest = float(np.percentile(length, 95))
        gain = float(np.clip(0.9 * step / longest, 1.0, max_gain)) if longest > 1e-6 else 1.0
    thickness = max(1, round(step / 24))
    colours = _direction_colours(u, v).tolist() if colour is None else [[colour] * len(xs)] * len(ys)
    tips_x, tips_y = np.rint(xs[None, :] + u * gain).astype(int), np.rint(ys[:, None] + v * gain).astype(int)
    for r, c in zip(*np.nonzero(length * gain >= 1.5)):  # shorter ones show no direction
        start, tip = (int(xs[c]), int(ys[r])), (int(tips_x[r, c]), int(tips_y[r, c]))
        cv2.arrowedLine(out, start, tip, (0, 0, 0), thickness + 2, cv2.LINE_AA, tipLength=0.35)
        cv2.arrowedLine(out, start, tip, colours[r][c], thickness, cv2.LINE_AA, tipLength=0.35)
    return out, gain


def disagreement(labels_a: np.ndarray, labels_b: np.ndarray, ground_truth: np.ndarray | None = None,
                 frame: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """Where two label maps differ, and with ground truth which of them is right.

    Agreeing pixels show the frame darkened (or black without a frame); differing pixels are
    DIFFER without ground truth, else GUM_RIGHT / BILINEAR_RIGHT / BOTH_WRONG (a = GUM, b =
    bilinear). Returns the image and fractions of the frame: differ, a_right, b_right, both_wrong.
    """
    differ = labels_a != labels_b
    if frame is not None:
        out = (cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB) * 0.35).astype(np.uint8)
    else:
        out = np.zeros(labels_a.shape + (3,), np.uint8)
    n = max(differ.size, 1)
    stats = {"differ": float(differ.sum()) / n}
    if ground_truth is None:
        out[differ] = DIFFER
        return out, stats
    known = differ & (ground_truth != IGNORE)
    a_right = known & (labels_a == ground_truth)
    b_right = known & (labels_b == ground_truth)
    both_wrong = known & ~a_right & ~b_right
    out[differ & (ground_truth == IGNORE)] = DIFFER
    out[a_right], out[b_right], out[both_wrong] = GUM_RIGHT, BILINEAR_RIGHT, BOTH_WRONG
    stats.update(a_right=float(a_right.sum()) / n, b_right=float(b_right.sum()) / n,
                 both_wrong=float(both_wrong.sum()) / n)
    return out, stats


def draw_legend(frame: np.ndarray, class_names: Sequence[str], palette: Palette,
                visible: Sequence[bool] | None = None, present: Sequence[bool] | None = None) -> np.ndarray:
    """A class legend in the frame's top-right corner (hidden classes struck through; only the
    classes marked `present` are listed when given)."""
    out = frame.copy()
    scale = _font_scale(frame) * 0.8
    thickness = max(1, round(scale * 1.5))
    rows = [i for i in range(len(class_names)) if present is None or present[i]]
    if not rows:
        return out
    (_, th), _ = cv2.getTextSize("Ag", FONT, scale, thickness)
    line = int(th * 1.9)
    width = max(cv2.getTextSize(class_names[i], FONT, scale, thickness)[0][0] for i in rows) + line + 16
    height = line * len(rows) + 8
    x0 = max(frame.shape[1] - width - 6, 0)
    y0 = 6
    region = out[y0:y0 + height, x0:x0 + width]
    region[:] = (region * 0.3).astype(np.uint8)
    for k, i in enumerate(rows):
        y = y0 + 4 + k * line
        colour = tuple(int(c) for c in palette[i])
        cv2.rectangle(out, (x0 + 6, y + 3), (x0 + line, y + line - 3), colour, -1)
        shown = visible is None or visible[i]
        text_colour = (255, 255, 255) if shown else (130, 130, 130)
        cv2.putText(out, class_names[i], (x0 + line + 8, y + line - 6), FONT, scale, text_colour, thickness, cv2.LINE_AA)
        if not shown:
            cv2.line(out, (x0 + line + 6, y + line // 2), (x0 + width - 6, y + line // 2), (130, 130, 130), 1)
    return out


def side_by_side(panels: Sequence[tuple[np.ndarray, str]]) -> np.ndarray:
    """Panels of equal height placed left to right, each captioned in its top-left corner."""
    images = []
    for image, caption in panels:
        image = image.copy()
        if caption:
            draw_text(image, caption, (8, 8))
        images.append(image)
    return np.concatenate(images, axis=1)


def wipe(left: np.ndarray, right: np.ndarray, position: float, captions: tuple[str, str] = ("", "")) -> np.ndarray:
    """`left` left of the vertical line at `position` (0..1 of the width), `right` beyond it."""
    W = left.shape[1]
    x = int(np.clip(position, 0.0, 1.0) * W)
    out = right.copy()
    out[:, :x] = left[:, :x]
    cv2.line(out, (x, 0), (x, out.shape[0] - 1), (255, 255, 255), max(1, W // 500))
    # captions along the bottom edge, out of the way of a legend in the top-right corner
    scale = _font_scale(out)
    thickness = max(1, round(scale * 1.6))
    for i, caption in enumerate(captions):
        if caption:
            (tw, th), base = cv2.getTextSize(caption, FONT, scale, thickness)
            x = 8 if i == 0 else W - tw - 10
            draw_text(out, caption, (x, out.shape[0] - th - base - 10))
    return out


# ---------------------------------------------------------------------------------------------
# Annotators: one thing each, `annotate(frame, result) -> frame`.


@dataclass
class OverlayAnnotator:
    palette: Palette
    alpha: float = 0.5
    visible: Sequence[bool] | None = None
    decoder: Literal["gum", "bilinear"] = "gum"

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        labels = result.labels_gum if self.decoder == "gum" else result.labels_bilinear
        return overlay(frame, labels, self.palette, self.alpha, self.visible)


@dataclass
class OffsetArrowAnnotator:
    step: int = 24
    gain: float | None = None  # None: automatic, see offset_arrows
    caption: bool = True
    last_gain: float = 1.0
    colour: tuple[int, int, int] | None = None  # None: by direction

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        if result.offsets is None:
            return frame
        out, self.last_gain = offset_arrows(frame, result.offsets, result.px_per_low_px, self.step, self.gain,
                                            colour=self.colour)
        if self.caption and result.offsets.size:
            # the mean matters: a field that is mostly one shift corrects a misalignment rather than edges
            p, q = (float(c.mean()) for c in result.offsets)
            biggest = float(np.hypot(result.offsets[0], result.offsets[1]).max())
            draw_text(out, f"offsets x{self.last_gain:.1f}: mean ({p:+.2f}, {q:+.2f}), max {biggest:.2f} low-res px",
                      (8, out.shape[0] - 30))
        return out


@dataclass
class OffsetColourAnnotator:
    alpha: float = 0.8  # weight of the flow colours over the frame
    max_magnitude: float | None = None  # low-res pixels at full brightness; None = per frame
    wheel: bool = True

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        if result.offsets is None:
            return frame
        colours, _ = offset_colours(result.offsets, self.max_magnitude)
        out = cv2.addWeighted(frame, 1.0 - self.alpha, colours, self.alpha, 0.0)
        size = max(32, frame.shape[0] // 8)
        if self.wheel and min(frame.shape[:2]) >= size + 16:  # no wheel on frames too small to hold it
            disc = flow_wheel(size)
            region = out[-size - 8:-8, -size - 8:-8]  # bottom right: captions sit bottom left
            inside = disc.any(axis=2)
            region[inside] = disc[inside]
        return out


@dataclass
class DisagreementAnnotator:
    """GUM vs bilinear disagreement over the darkened frame; uses result.ground_truth if set."""

    caption: bool = True
    last_stats: dict | None = None

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        out, self.last_stats = disagreement(result.labels_gum, result.labels_bilinear,
                                            result.ground_truth, frame)
        if self.caption:
            draw_text(out, describe_disagreement(self.last_stats), (8, out.shape[0] - 30))
        return out


def describe_disagreement(stats: dict[str, float]) -> str:
    text = f"differ {100 * stats['differ']:.2f}%"
    if "a_right" in stats:
        text += f" | GUM right {100 * stats['a_right']:.2f}% | bilinear right {100 * stats['b_right']:.2f}%"
    return text


@dataclass
class LegendAnnotator:
    class_names: Sequence[str]
    palette: Palette
    visible: Sequence[bool] | None = None
    present_only: bool = True  # list only the classes found in the frame

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        present = None
        if self.present_only:
            counts = np.bincount(result.labels_gum.ravel(), minlength=256)
            present = (counts[: len(self.class_names)] > 0).tolist()
        return draw_legend(frame, self.class_names, self.palette, self.visible, present)


# ---------------------------------------------------------------------------------------------
# Views: what the app's toggles and the command line's --view describe.


@dataclass(frozen=True)
class ViewSettings:
    overlay: bool = True
    alpha: float = 0.5
    visible: tuple[bool, ...] | None = None  # per class; None = all shown
    arrows: bool = False
    flow: bool = False
    layout: Layout = "single"
    # side by side as a 2 x 2 grid: GUM | bilinear over disagreement | ground truth (or, without
    # ground truth, the offsets as flow colours); suits screens better than one row of three
    grid: bool = False
    decoder: Literal["gum", "bilinear"] = "gum"  # what the single layout shows
    wipe: float = 0.5  # position of the wipe line, fraction of the width
    legend: bool = False  # draw a legend into the frame (the app has its own widget)
    arrow_step: int = 24


VIEWS: dict[str, ViewSettings] = {
    "overlay": ViewSettings(legend=True),
    "offsets": ViewSettings(overlay=False, flow=True, arrows=True),
    "side-by-side": ViewSettings(layout="side-by-side", legend=True),
    "grid": ViewSettings(layout="side-by-side", grid=True, legend=True),
    "wipe": ViewSettings(layout="wipe", legend=True),
}


def _decoded(frame: np.ndarray, result: FrameResult, view: ViewSettings, palette: Palette,
             decoder: str) -> np.ndarray:
    out = frame
    flow = view.flow and result.offsets is not None
    if flow:  # flow colours replace the class overlay: the two blended read as neither
        out = OffsetColourAnnotator(wheel=decoder == "gum").annotate(out, result)
    elif view.overlay:
        out = OverlayAnnotator(palette, view.alpha, view.visible, decoder).annotate(out, result)  # type: ignore[arg-type]
    if view.arrows and decoder == "gum":
        out = OffsetArrowAnnotator(view.arrow_step, colour=(255, 255, 255) if flow else None).annotate(out, result)
    return out


def render(frame: np.ndarray, result: FrameResult, view: ViewSettings, class_names: Sequence[str],
           palette: Palette) -> np.ndarray:
    """The frame drawn as `view` says. Single and wipe layouts keep the frame's size; side by side
    is three frames wide (GUM | bilinear | disagreement) or, with `view.grid`, 2 x 2 frames."""
    if view.layout == "side-by-side":
        gum = _decoded(frame, result, view, palette, "gum")
        bilinear = _decoded(frame, result, replace(view, flow=False), palette, "bilinear")
        differ = DisagreementAnnotator().annotate(frame, result)
        if view.legend:  # on the disagreement panel, mostly darkened frame, not over a decoder's output
            differ = LegendAnnotator(class_names, palette, view.visible).annotate(differ, result)
        gum_caption = "GUM" if result.has_guidance else "no guidance: bilinear"
        panels = [(gum, gum_caption), (bilinear, "bilinear"), (differ, "disagreement")]
        if not view.grid:
            return side_by_side(panels)
        if result.ground_truth is not None:
            truth = overlay(frame, result.ground_truth, palette, max(view.alpha, 0.5), view.visible)
            panels.append((truth, "ground truth"))
        elif result.offsets is not None:
            panels.append((OffsetColourAnnotator(alpha=0.85).annotate(frame, result), "offsets (hue = direction)"))
        else:
            panels.append((frame, "frame"))
        return np.concatenate([side_by_side(panels[:2]), side_by_side(panels[2:])], axis=0)
    if view.layout == "wipe":
        gum = _decoded(frame, result, view, palette, "gum")
        bilinear = _decoded(frame, result, replace(view, flow=False, arrows=False), palette, "bilinear")
        out = wipe(gum, bilinear, view.wipe, ("GUM", "bilinear"))
    else:
        out = _decoded(frame, result, view, palette, view.decoder)
    if view.legend:
        out = LegendAnnotator(class_names, palette, view.visible).annotate(out, result)
    return out


def rendered_size(frame_size: tuple[int, int], view: ViewSettings) -> tuple[int, int]:
    """(width, height) of `render`'s output for a frame of (width, height)."""
    columns, rows = panel_grid(view)
    return frame_size[0] * columns, frame_size[1] * rows


def panel_grid(view: ViewSettings) -> tuple[int, int]:
    """(columns, rows) of frame-sized panels that `render` composes for `view`."""
    if view.layout != "side-by-side":
        return 1, 1
    return (2, 2) if view.grid else (3, 1)
