"""What the canvas shows: gun.render.annotate's views, plus the bilinear twin beside the GUN.

With a twin loaded, side by side is a 2 x 2 grid: GUM | the GUN's own bilinear decoding over
the twin (the same network trained without guidance) | ground truth, or without ground truth
where GUN and twin disagree. Without a twin it is gun.render's own grid (GUM | bilinear over
disagreement | ground truth or offsets). numpy only: the presenter calls this on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from gun.render.annotate import (
    BILINEAR_RIGHT,
    BOTH_WRONG,
    DIFFER,
    GUM_RIGHT,
    ViewSettings,
    disagreement,
    draw_text,
    overlay,
    panel_grid,
    render,
    side_by_side,
)
from gun.runtime.result import FrameResult

Palette = Sequence[Sequence[int]]


def compose(frame: np.ndarray, result: FrameResult | None, twin: FrameResult | None, view: ViewSettings,
            class_names: Sequence[str], palette: Palette) -> tuple[np.ndarray, tuple[int, int]]:
    """The image to show and its (columns, rows) of frame-sized panels."""
    if result is None or not class_names:
        return frame, (1, 1)
    if view.layout != "side-by-side" or twin is None:
        return render(frame, result, view, class_names, palette), panel_grid(view)
    single = replace(view, layout="single", legend=False)
    gum = render(frame, result, replace(single, decoder="gum"), class_names, palette)
    plain = replace(single, decoder="bilinear", flow=False, arrows=False)
    own = render(frame, result, plain, class_names, palette)
    twin_image = render(frame, twin, plain, class_names, palette)
    truth = result.ground_truth
    if truth is not None:
        fourth = (overlay(frame, truth, palette, max(view.alpha, 0.5), view.visible), "ground truth")
    else:
        image, stats = disagreement(result.labels_gum, twin.labels_gum, None, frame)
        draw_text(image, f"differ {100 * stats['differ']:.1f}%", (8, image.shape[0] - 30))
        fourth = (image, "GUN vs twin: where they differ")
    top = side_by_side([(gum, "GUN: GUM"), (own, "GUN: its own bilinear")])
    bottom = side_by_side([(twin_image, "twin: bilinear network"), fourth])
    return np.concatenate([top, bottom], axis=0), (2, 2)


def _swatch(colour: Sequence[int], text: str) -> str:
    r, g, b = (int(c) for c in colour)
    return f'<span style="color: rgb({r},{g},{b})">&#9632;</span>&nbsp;{text}'


def disagreement_key(twin: bool, ground_truth: bool) -> str:
    """The colour key of the disagreement panel, for a label under the canvas (HTML)."""
    if twin:
        if ground_truth:
            return "Panels: GUM and the GUN's own bilinear decoding (one forward pass), the twin, the ground truth."
        return ("Panels: GUM, the GUN's own bilinear decoding, the twin; last: "
                + _swatch(DIFFER, "GUN (GUM) and twin differ") + ", grey where they agree.")
    parts = ["Disagreement panel: grey = both decoders agree"]
    if ground_truth:
        parts += [_swatch(GUM_RIGHT, "only GUM right"), _swatch(BILINEAR_RIGHT, "only bilinear right"),
                  _swatch(BOTH_WRONG, "both wrong"), _swatch(DIFFER, "differ where the truth is void")]
    else:
        parts.append(_swatch(DIFFER, "they differ (no ground truth to say who is right)"))
    return "; ".join(parts[:1]) + ": " + ", ".join(parts[1:]) + "."
