"""The live plots redraw at most once every REDRAW_S while playing, and at once when paused."""

from __future__ import annotations

import numpy as np

from app.views import plots
from app.views.plots import MiouPlot, PerformancePlot

TIMINGS = {"decode": 3.0, "preprocess": 10.0, "inference": 250.0, "upsampling": 15.0, "render": 2.0}


def points(curve) -> int:
    x, _ = curve.getData()
    return 0 if x is None else len(x)


def test_playing_frames_are_drawn_once_per_interval_and_a_pause_draws_at_once(qtbot) -> None:
    plot = PerformancePlot()
    qtbot.addWidget(plot)
    plot.add(3.0, TIMINGS)  # the first frame is drawn at once
    assert points(plot._fps_curve) == 1
    plot.add(3.1, TIMINGS)
    plot.add(3.2, TIMINGS)
    assert points(plot._fps_curve) == 1  # too soon: one redraw waits for the interval
    assert plot.summary.text().startswith("<b>3.2 FPS")  # the labels follow every frame
    qtbot.waitUntil(lambda: points(plot._fps_curve) == 3, timeout=int(3000 * plots.REDRAW_S))
    plot.add(3.3, TIMINGS)
    assert points(plot._fps_curve) == 3
    plot.add(None, TIMINGS, "paused")  # paused, stepping, a still image: drawn at once
    assert points(plot._fps_curve) == 5


def test_flush_draws_what_is_pending(qtbot) -> None:
    plot = MiouPlot()
    qtbot.addWidget(plot)
    scores = {"miou_gum": 0.6, "miou_bilinear": 0.5, "running_miou_gum": 0.6, "running_miou_bilinear": 0.5}
    trimap = {"bands": (1, 2, 4), "gum": [0.3, 0.4, 0.5], "bilinear": [0.2, 0.3, None]}
    plot.add(scores, trimap)
    plot.add(scores, trimap)
    curve = plot._curves["running_miou_gum"]
    assert points(curve) < 2 and plot.redraws._timer.isActive()  # cleared just now: the redraw waits
    plot.redraws.flush()
    assert points(curve) == 2 and not plot.redraws._timer.isActive()
    x, y = plot._trimap_curves["bilinear"].getData()  # x on the log axis
    assert np.allclose(x, np.log10([1, 2, 4])) and np.allclose(y[:2], [0.2, 0.3]) and np.isnan(y[2])
    assert points(plot._trimap_curves["twin"]) == 0  # no twin in the trimap
