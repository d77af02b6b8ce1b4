"""Views: what the app's toggles and the command line's --view describe, and `render`, which
composes the annotators for a `ViewSettings` (single, side by side / 2 x 2 grid, or wipe)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from gun.render.annotators import (
    DisagreementAnnotator,
    LegendAnnotator,
    OffsetArrowAnnotator,
    OffsetColourAnnotator,
    OverlayAnnotator,
    stamp_flow_wheel,
)
from gun.render.colours import Palette, overlay
from gun.render.draw import side_by_side, wipe
from gun.runtime.result import FrameResult

Layout = Literal["single", "side-by-side", "wipe"]
LAYOUTS: tuple[str, ...] = ("single", "side-by-side", "wipe")


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
        out = OffsetColourAnnotator(wheel=False).annotate(out, result)
    elif view.overlay:
        out = OverlayAnnotator(palette, view.alpha, view.visible, decoder).annotate(out, result)  # type: ignore[arg-type]
    if view.arrows and decoder == "gum":
        out = OffsetArrowAnnotator(view.arrow_step, colour=(255, 255, 255) if flow else None).annotate(out, result)
    if flow and decoder == "gum":
        out = stamp_flow_wheel(out)  # last: the arrows never cover the colour key
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


def uses_bilinear(view: ViewSettings) -> bool:
    """Whether `render` (and the app's side-by-side panels) draw the bilinear decoding."""
    return view.layout in ("side-by-side", "wipe") or view.decoder == "bilinear"


def rendered_size(frame_size: tuple[int, int], view: ViewSettings) -> tuple[int, int]:
    """(width, height) of `render`'s output for a frame of (width, height)."""
    columns, rows = panel_grid(view)
    return frame_size[0] * columns, frame_size[1] * rows


def panel_grid(view: ViewSettings) -> tuple[int, int]:
    """(columns, rows) of frame-sized panels that `render` composes for `view`."""
    if view.layout != "side-by-side":
        return 1, 1
    return (2, 2) if view.grid else (3, 1)
