"""The live plots redraw at most once every REDRAW_S while playing, and at once when paused; a
redraw paints each plot once."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject

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


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def test_a_redraw_paints_each_plot_once(qtbot) -> None:
    # pyqtgraph moves a view's transform while painting it unless the plots settle first; then
    # the curves are dirtied mid-paint and every plot was painted twice per redraw
    panel = PerformancePlot()
    qtbot.addWidget(panel)
    panel.resize(390, 420)
    panel.show()
    qtbot.waitExposed(panel)
    counters = {}
    for name, plot in (("fps", panel.fps_plot), ("latency", panel.latency_plot)):
        counters[name] = PaintCounter()
        plot.viewport().installEventFilter(counters[name])
    rng = np.random.default_rng(0)
    for redraw, frames in enumerate((300, 10, 10, 10)):  # ranges that move on every redraw, as while playing
        for _ in range(frames):
            panel.add(10.0 + rng.normal(), {k: v * (1 + 0.1 * rng.normal()) for k, v in TIMINGS.items()})
        for counter in counters.values():
            counter.paints = 0
        panel.redraws.request(now=True)
        qtbot.waitUntil(lambda: all(c.paints for c in counters.values()), timeout=3000)
        qtbot.wait(200)  # a second paint, if one were coming, comes within the next event rounds
        if redraw:  # the first one also lays the panel out (its labels get their text)
            assert {name: c.paints for name, c in counters.items()} == {"fps": 1, "latency": 1}
