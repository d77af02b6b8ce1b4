"""Drawing on frames with numpy and OpenCV only: label overlays, the offset field (arrows and flow
colours), the GUM-vs-bilinear disagreement map, side-by-side and wipe compositions, legends.

The GUI, the `gun annotate` command and the exporter share these. Every annotator is a small
object with `annotate(frame, result) -> frame` (frame: (H, W, 3) RGB uint8, never modified in
place; result: a gun.runtime.result.FrameResult); `render(frame, result, view, ...)` composes them for a
`ViewSettings`, which is what the app and the command line describe with their toggles.

This module gathers the public names of gun.render's parts, so that importers need one name:
colours (palettes, overlays, flow colours, disagreement), draw (text, arrows, legend, compositions),
annotators (one thing each) and views (ViewSettings, VIEWS, render).
"""

from __future__ import annotations

from gun.render.annotators import (
    DisagreementAnnotator,
    LegendAnnotator,
    OffsetArrowAnnotator,
    OffsetColourAnnotator,
    OverlayAnnotator,
    describe_disagreement,
)
from gun.render.colours import (
    BILINEAR_RIGHT,
    BOTH_WRONG,
    DIFFER,
    GUM_RIGHT,
    Palette,
    colorize,
    disagreement,
    flow_wheel,
    offset_colours,
    overlay,
    palette_lut,
)
from gun.render.draw import FONT, draw_legend, draw_text, offset_arrows, side_by_side, wipe
from gun.render.views import LAYOUTS, VIEWS, Layout, ViewSettings, panel_grid, render, rendered_size, uses_bilinear

__all__ = [
    "BILINEAR_RIGHT", "BOTH_WRONG", "DIFFER", "FONT", "GUM_RIGHT", "LAYOUTS", "VIEWS",
    "DisagreementAnnotator", "Layout", "LegendAnnotator", "OffsetArrowAnnotator", "OffsetColourAnnotator",
    "OverlayAnnotator", "Palette", "ViewSettings",
    "colorize", "describe_disagreement", "disagreement", "draw_legend", "draw_text", "flow_wheel", "offset_arrows",
    "offset_colours", "overlay", "palette_lut", "panel_grid", "render", "rendered_size", "side_by_side", "uses_bilinear", "wipe",
]
