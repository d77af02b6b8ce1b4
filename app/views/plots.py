"""Live plots (pyqtgraph): frames per second, stacked per-stage latency, and mIoU against ground
truth for GUM, the GUN's own bilinear decoding and the bilinear twin.

Legends sit above the plots, never over the curves. Plots keep a legible minimum size; the
accuracy plots stand side by side when the panel is wide enough, else one above the other.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QBoxLayout, QLabel, QVBoxLayout, QWidget

HISTORY = 300  # frames kept in the plots
REDRAW_S = 1.0  # while playing, curves are redrawn at most this often (labels every frame)
MIN_PLOT = (170, 95)  # (width, height) below which axes and curves stop being legible
GUM, BILINEAR, TWIN = (255, 112, 67), (79, 195, 247), (174, 213, 129)  # series colours in the accuracy plots
APP_FPS, MODEL_FPS = (102, 187, 106), (66, 165, 245)

# stage -> colour, bottom to top of the stacked latency plot
STAGES: dict[str, tuple[int, int, int]] = {
    "decode": (120, 144, 156),
    "preprocess": (255, 183, 77),
    "inference": (66, 165, 245),
    "upsampling": (171, 71, 188),
    "twin": (174, 213, 129),
    "score": (255, 238, 88),  # live mIoU and trimap, with ground truth only
    "render": (240, 98, 146),
}
MODEL_STAGES = ("preprocess", "inference", "upsampling")


def swatch(colour: tuple[int, int, int], text: str) -> str:
    return f'<span style="color: rgb{colour}">&#9632;</span>&nbsp;{text}'


def _plot(title: str, unit: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=(30, 30, 34))
    plot.setTitle(title, color=(220, 220, 220), size="9pt")
    plot.setLabel("left", unit)
    plot.showGrid(x=False, y=True, alpha=0.25)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMinimumSize(*MIN_PLOT)
    return plot


def _key(parts: list[str]) -> QLabel:
    label = QLabel(" &nbsp;".join(parts))  # plain spaces between entries: the key may wrap
    label.setWordWrap(True)
    label.setStyleSheet("QLabel { font-size: 8pt; }")
    return label


class _Redraws:
    """Runs `redraw` at most once every REDRAW_S: pyqtgraph's redraws share the cores with the
    model, and on 2 cores redrawing every frame cost it a fifth of its speed (the app on the
    bundled drive: 2.9 FPS, 3.7 without plot redraws). A redraw asked for too soon runs when the
    interval is over; `now` (paused, stepping, a still image) and `flush()` run it at once."""

    def __init__(self, redraw: Callable[[], None], parent: QObject) -> None:
        self._redraw = redraw
        self._last = -math.inf
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._run)

    def request(self, now: bool = False) -> None:
        wait = self._last + REDRAW_S - time.monotonic()
        if now or wait <= 0:
            self._run()
        elif not self._timer.isActive():
            self._timer.start(math.ceil(wait * 1000))

    def flush(self) -> None:
        if self._timer.isActive():
            self._run()

    def _run(self) -> None:
        self._timer.stop()
        self._last = time.monotonic()
        self._redraw()


def _settle(*plots: pg.PlotWidget) -> None:
    """Apply new data and ranges now. pyqtgraph otherwise moves a view's transform while painting
    it, which dirties the curves and paints every plot a second time (the performance plots: 16
    against 12 ms of the GUI thread's CPU per redraw, on the cores the model uses)."""
    for plot in plots:
        plot.plotItem.vb.prepareForPaint()


def _robust_top(values: np.ndarray, floor: float) -> float:
    """A y-range top that ignores rare spikes (the first frames, while the model warms up)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return floor
    return max(floor, min(float(finite.max()) * 1.05, 3.0 * float(np.median(finite))))


class PerformancePlot(QWidget):
    """Frames per second (the app's and the model's alone) and latency stacked by stage.

    FPS is only meaningful while playing: paused, stepping or on a still image the summary gives
    the frame's latency instead, and the FPS curve leaves a gap."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("performance")
        self._t: deque[float] = deque(maxlen=HISTORY)
        self._fps: deque[float] = deque(maxlen=HISTORY)
        self._model_fps: deque[float] = deque(maxlen=HISTORY)
        self._stages = {name: deque(maxlen=HISTORY) for name in STAGES}
        self._n = 0
        self.summary = QLabel("–")
        self.summary.setObjectName("performanceSummary")
        self.summary.setWordWrap(True)
        self.fps_plot = _plot("frames per second", "FPS")
        self._fps_curve = self.fps_plot.plot(pen=pg.mkPen(APP_FPS, width=2))
        self._model_curve = self.fps_plot.plot(pen=pg.mkPen(MODEL_FPS, width=1))
        self.fps_key = _key([swatch(APP_FPS, "app"), swatch(MODEL_FPS, "model alone")])
        self.latency_plot = _plot("latency per stage, stacked", "ms")
        self.latency_key = _key([swatch(c, n) for n, c in STAGES.items()])
        # drawn largest cumulative first, so each smaller one paints over it: a stacked area plot
        self._stage_curves = {}
        for name, colour in reversed(STAGES.items()):
            self._stage_curves[name] = self.latency_plot.plot(pen=pg.mkPen(colour), brush=pg.mkBrush(*colour, 190),
                                                              fillLevel=0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 0, 6, 2)
        for widget, stretch in ((self.summary, 0), (self.fps_key, 0), (self.fps_plot, 1), (self.latency_key, 0),
                                (self.latency_plot, 1)):
            layout.addWidget(widget, stretch)
        self.redraws = _Redraws(self._refresh, self)

    def clear(self) -> None:
        for d in (self._t, self._fps, self._model_fps, *self._stages.values()):
            d.clear()
        self.summary.setText("–")
        self.redraws.request(now=True)

    def add(self, fps: float | None, timings: dict[str, float], status: str = "", held: bool = False) -> None:
        """One drawn frame: `fps` while playing, None when paused, stepping or on a still image
        (`status` then says which, e.g. "paused"); `held`: the video's frame rate, not the pipeline,
        set that FPS."""
        self._n += 1
        self._t.append(self._n)
        self._fps.append(np.nan if fps is None else fps)
        model_ms = sum(timings.get(k, 0.0) for k in MODEL_STAGES)
        self._model_fps.append(1000.0 / model_ms if model_ms > 0 and fps is not None else np.nan)
        for name in STAGES:
            self._stages[name].append(timings.get(name, 0.0))
        self.redraws.request(now=fps is None)
        self.latency_key.setText(" &nbsp;".join(swatch(c, f"{n} {timings[n]:.0f}") for n, c in STAGES.items() if n in timings)
                                 + " ms")
        total = sum(timings.get(name, 0.0) for name in STAGES)
        if fps is None:
            model = f" (model {model_ms:.0f} ms)" if model_ms > 0 else ""
            head = f"<b>{status or 'paused'}</b>: this frame took {total:.0f} ms{model}"
        else:
            model = f" &nbsp;|&nbsp; model alone {1000.0 / model_ms:.1f} FPS" if model_ms > 0 else ""
            rate = " (the video's rate; R: full speed)" if held else ""
            head = f"<b>{fps:.1f} FPS</b>{rate}{model}"
        self.summary.setText(head)

    def medians(self, skip: int = 5) -> dict[str, float]:
        """Median app FPS, model-alone FPS and stage latencies (ms) of the frames kept, after the
        first `skip` (warm-up); for the summary main.py prints when a scripted run ends."""
        def median(values: deque) -> float:
            kept = np.fromiter(values, float)[skip:]
            kept = kept[np.isfinite(kept)]
            return float(np.median(kept)) if kept.size else float("nan")

        return {"fps": median(self._fps), "model_fps": median(self._model_fps),
                **{f"{name}_ms": median(values) for name, values in self._stages.items()}}

    def _refresh(self) -> None:
        t = np.fromiter(self._t, float)
        fps, model_fps = np.fromiter(self._fps, float), np.fromiter(self._model_fps, float)
        self._fps_curve.setData(t, fps, connect="finite")
        self._model_curve.setData(t, model_fps, connect="finite")
        total = np.zeros(len(t))
        for name in STAGES:
            total = total + np.fromiter(self._stages[name], float)
            self._stage_curves[name].setData(t, total.copy())
        self.fps_plot.setYRange(0, _robust_top(np.concatenate([fps, model_fps]), 1.0), padding=0)
        self.latency_plot.setYRange(0, _robust_top(total, 10.0), padding=0)
        _settle(self.fps_plot, self.latency_plot)


SERIES = {"gum": (GUM, "GUM"), "bilinear": (BILINEAR, "GUN's bilinear"), "twin": (TWIN, "twin")}


class MiouPlot(QWidget):
    """Per-frame and running mIoU of GUM, the GUN's bilinear decoding and the twin (when loaded),
    and the running trimap; for sources with ground truth only."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("miou")
        self._t: deque[float] = deque(maxlen=HISTORY)
        self._series = {f"{kind}_{k}": deque(maxlen=HISTORY) for kind in ("miou", "running_miou") for k in SERIES}
        self._n = 0
        self.summary = QLabel("no ground truth for this source")
        self.summary.setObjectName("miouSummary")
        self.summary.setWordWrap(True)
        self._trimap_ticks: tuple[float, ...] = ()
        self.plot = _plot("mIoU over frames", "mIoU")
        self.plot.setYRange(0, 1)
        self._curves = {}
        for k, (colour, _) in SERIES.items():
            self._curves[f"miou_{k}"] = self.plot.plot(pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine))
            self._curves[f"running_miou_{k}"] = self.plot.plot(pen=pg.mkPen(colour, width=2))
        self.trimap_plot = _plot("mIoU near edges", "mIoU")
        self.trimap_plot.setLabel("bottom", "band width d (px)")
        self.trimap_plot.setLogMode(x=True, y=False)
        self.trimap_plot.setYRange(0, 1, padding=0)
        self._trimap_curves = {k: self.trimap_plot.plot(pen=pg.mkPen(c, width=2), symbol="o", symbolSize=5, symbolBrush=c)
                               for k, (c, _) in SERIES.items()}
        self.key = _key(["thick: running mIoU, dotted: this frame's"])
        self.plots = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.plots.addWidget(self.plot)
        self.plots.addWidget(self.trimap_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 0, 6, 2)
        layout.addWidget(self.summary)
        layout.addWidget(self.key)
        layout.addLayout(self.plots, 1)
        self._trimap: dict | None = None  # the latest running trimap, drawn with the curves
        self.redraws = _Redraws(self._redraw, self)
        self.clear()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        wide = self.width() >= 2 * MIN_PLOT[0] + 30
        self.plots.setDirection(QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom)

    def clear(self) -> None:
        self._t.clear()
        for d in self._series.values():
            d.clear()
        self._n = 0
        self._trimap = None
        for widget in (self.plot, self.trimap_plot, self.key):
            widget.setVisible(False)
        self.summary.setText("no ground truth for this source")
        self.redraws.request(now=True)

    def _redraw(self) -> None:
        t = np.fromiter(self._t, float)
        for k, curve in self._curves.items():
            curve.setData(t, np.fromiter(self._series[k], float), connect="finite")
        self._draw_trimap(self._trimap)
        _settle(self.plot, self.trimap_plot)

    def _draw_trimap(self, trimap: dict | None) -> None:
        if trimap is None:
            for curve in self._trimap_curves.values():
                curve.setData([], [])
            return
        bands = np.asarray(trimap["bands"], float)
        if self._trimap_ticks != tuple(bands):
            self._trimap_ticks = tuple(bands)
            self.trimap_plot.getAxis("bottom").setTicks([[(np.log10(b), f"{b:g}") for b in bands]])
        for name, curve in self._trimap_curves.items():
            if name not in trimap:  # no twin loaded
                curve.setData([], [])
                continue
            values = np.array([np.nan if v is None else v for v in trimap[name]], float)
            if np.isfinite(values).any():
                curve.setData(bands, values, connect="finite")
            else:  # no boundary pixels scored yet
                curve.setData([], [])

    def add(self, scores: dict[str, float], trimap: dict | None = None, now: bool = False) -> None:
        """One scored frame, and the running trimap: {"bands": (1, 2, ...), "gum": [...],
        "bilinear": [...][, "twin": [...]]} (None entries = no pixels yet); `now`: redraw at once
        (paused, stepping, a still image)."""
        if not scores:
            return
        if trimap:
            self.trimap_plot.setVisible(True)
            self._trimap = trimap
        self.plot.setVisible(True)
        self.key.setVisible(True)
        self._n += 1
        self._t.append(self._n)
        for k, d in self._series.items():
            d.append(scores.get(k, np.nan))
        self.redraws.request(now)
        shown = [k for k in SERIES if f"miou_{k}" in scores]
        frame = ", ".join(f"{swatch(SERIES[k][0], SERIES[k][1])} {scores[f'miou_{k}']:.3f}" for k in shown)
        running = ", ".join(f"{swatch(SERIES[k][0], SERIES[k][1])} <b>{scores[f'running_miou_{k}']:.3f}</b>" for k in shown)
        self.summary.setText(f"running mIoU: {running}<br>this frame: {frame}")
        self.summary.setToolTip("running: over all frames so far; GUN's bilinear: the same forward pass decoded bilinearly; "
                                "twin: the bilinear network trained the same way, over the frames it ran on (it runs in the side-by-side view)")


class MetersPanel(QWidget):
    """Performance above accuracy in one panel: when a source has no ground truth the accuracy
    part folds away and the performance plots take the room (no gap)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("meters")
        self.performance = PerformancePlot()
        self.miou = MiouPlot()
        self.miou.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.performance, 1)
        layout.addWidget(self.miou, 1)
        self.setMinimumWidth(MIN_PLOT[0] + 30)

    def show_accuracy(self, shown: bool) -> None:
        self.miou.setVisible(shown)
