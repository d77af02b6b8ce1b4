"""Colours with numpy and OpenCV only: class palettes and overlays, offset flow colours, and the
GUM-vs-bilinear disagreement map. Every function returns a new image (RGB uint8)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gun.data.labels import IGNORE

Palette = Sequence[Sequence[int]]

# Disagreement colours (RGB): the two decoders differ and ...
DIFFER = (255, 0, 255)  # ... there is no ground truth to say who is right
GUM_RIGHT = (0, 220, 0)  # ... GUM is right, bilinear wrong
BILINEAR_RIGHT = (255, 40, 40)  # ... bilinear is right, GUM wrong
BOTH_WRONG = (255, 210, 0)  # ... both are wrong


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


def direction_colours(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """RGB colours (..., 3) of directions, matching offset_colours' hues."""
    hsv = np.empty(dx.shape + (3,), np.uint8)
    hsv[..., 0] = ((np.degrees(np.arctan2(dy, dx)) % 360) / 2).astype(np.uint8)
    hsv[..., 1], hsv[..., 2] = 200, 255
    return cv2.cvtColor(hsv.reshape(1, -1, 3), cv2.COLOR_HSV2RGB).reshape(hsv.shape)


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
