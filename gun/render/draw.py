"""Drawing on frames with OpenCV: text on a dark box, offset arrows, the class legend, and the
side-by-side and wipe compositions."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gun.render.colours import Palette, direction_colours

FONT = cv2.FONT_HERSHEY_SIMPLEX


def font_scale(image: np.ndarray) -> float:
    return float(np.clip(image.shape[1] / 1100, 0.45, 1.5))


def draw_text(image: np.ndarray, text: str, org: tuple[int, int], scale: float | None = None,
              colour: tuple[int, int, int] = (255, 255, 255), background: bool = True) -> np.ndarray:
    """Put `text` with its top-left corner at `org`, on a dark box so that it reads on any frame."""
    scale = font_scale(image) if scale is None else scale
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
    colours = direction_colours(u, v).tolist() if colour is None else [[colour] * len(xs)] * len(ys)
    tips_x, tips_y = np.rint(xs[None, :] + u * gain).astype(int), np.rint(ys[:, None] + v * gain).astype(int)
    for r, c in zip(*np.nonzero(length * gain >= 1.5)):  # shorter ones show no direction
        start, tip = (int(xs[c]), int(ys[r])), (int(tips_x[r, c]), int(tips_y[r, c]))
        cv2.arrowedLine(out, start, tip, (0, 0, 0), thickness + 2, cv2.LINE_AA, tipLength=0.35)
        cv2.arrowedLine(out, start, tip, colours[r][c], thickness, cv2.LINE_AA, tipLength=0.35)
    return out, gain


def draw_legend(frame: np.ndarray, class_names: Sequence[str], palette: Palette,
                visible: Sequence[bool] | None = None, present: Sequence[bool] | None = None) -> np.ndarray:
    """A class legend in the frame's top-right corner (hidden classes struck through; only the
    classes marked `present` are listed when given)."""
    out = frame.copy()
    scale = font_scale(frame) * 0.8
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
    scale = font_scale(out)
    thickness = max(1, round(scale * 1.6))
    for i, caption in enumerate(captions):
        if caption:
            (tw, th), base = cv2.getTextSize(caption, FONT, scale, thickness)
            x = 8 if i == 0 else W - tw - 10
            draw_text(out, caption, (x, out.shape[0] - th - base - 10))
    return out
