"""Annotators: one thing each, `annotate(frame, result) -> frame` (frame: (H, W, 3) RGB uint8, never
modified in place; result: a gun.runtime.result.FrameResult)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from gun.render.colours import Palette, disagreement, flow_wheel, offset_colours, overlay
from gun.render.draw import draw_legend, draw_text, offset_arrows
from gun.runtime.result import FrameResult


@dataclass
class OverlayAnnotator:
    palette: Palette
    alpha: float = 0.5
    visible: Sequence[bool] | None = None
    decoder: Literal["gum", "bilinear"] = "gum"

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        labels = result.labels_gum if self.decoder == "gum" else result.labels_bilinear
        if labels is None:
            return not_decoded(frame)
        return overlay(frame, labels, self.palette, self.alpha, self.visible)


def not_decoded(frame: np.ndarray) -> np.ndarray:
    """The frame, darkened and captioned, where a result lacks the bilinear labels: the app asks
    for them when a view shows them, and a frame decoded before that has none."""
    out = (frame // 2).astype(np.uint8)
    draw_text(out, "bilinear: not decoded for this frame", (8, 8))
    return out


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
        return stamp_flow_wheel(out) if self.wheel else out


def stamp_flow_wheel(image: np.ndarray) -> np.ndarray:
    """The colour key of the flow colours, bottom right (captions sit bottom left), in place; drawn
    last, so that nothing (arrows) covers it. No wheel on frames too small to hold it."""
    size = max(32, image.shape[0] // 8)
    if min(image.shape[:2]) >= size + 16:
        disc = flow_wheel(size)
        region = image[-size - 8:-8, -size - 8:-8]
        inside = disc.any(axis=2)
        region[inside] = disc[inside]
    return image


@dataclass
class DisagreementAnnotator:
    """GUM vs bilinear disagreement over the darkened frame; uses result.ground_truth if set."""

    caption: bool = True
    last_stats: dict | None = None

    def annotate(self, frame: np.ndarray, result: FrameResult) -> np.ndarray:
        if result.labels_bilinear is None:
            self.last_stats = None
            return not_decoded(frame)
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
