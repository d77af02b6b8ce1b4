"""Live plots (pyqtgraph): frames per second, stacked per-stage latency, and mIoU against
ground truth for both decoders."""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

HISTORY = 300  # frames kept in the plots
GUM, BILINEAR = (255, 112, 67), (79, 195, 247)  # decoder colours in the accuracy plots

# stage -> colour, bottom to top of the stacked latency plot
STAGES: dict[str, tuple[int, int, int]] = {
    "decode": (120, 144, 156),
    "preprocess": (255, 183, 77),
    "inference": (66, 165, 245),
    "upsampling": (171, 71, 188),
    "render": (102, 187, 106),
}


def _plot(title: str, unit: str, legend_columns: int = 0) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=(30, 30, 34))
    plot.setTitle(title, color=(220, 220, 220), size="9pt")
    plot.setLabel("left", unit)
    plot.showGrid(x=False, y=True, alpha=0.25)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMinimumHeight(80)
    if legend_columns:
        plot.addLegend(offset=(4, 2), labelTextSize="8pt", colCount=legend_columns, brush=(30, 30, 34, 200))
    return plot


def _robust_top(values: np.ndarray, floor: float) -> float:
    """A y-range top that ignores rare spikes (the first frames, while the model warms up)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return floor
    return max(floor, min(float(finite.max()) * 1.05, 3.0 * float(np.median(finite))))


def _swatch_text(name: str, value: float, colour: tuple[int, int, int]) -> str:
    return f'<span style="color: rgb{colour}">&#9632;</span>&nbsp;{name} {value:.0f}'


class PerformancePlot(QWidget):
    """Frames per second (the app's and the model's alone) and latency stacked by stage."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("performance")
        self._t = deque(maxlen=HISTORY)
        self._fps = deque(maxlen=HISTORY)
        self._model_fps = deque(maxlen=HISTORY)
        self._stages = {name: deque(maxlen=HISTORY) for name in STAGES}
        self._n = 0
        self.summary = QLabel("–")
        self.summary.setObjectName("performanceSummary")
        self.summary.setWordWrap(True)
        self.fps_plot = _plot("frames per second", "FPS", legend_columns=2)
        self._fps_curve = self.fps_plot.plot(pen=pg.mkPen((102, 187, 106), width=2), name="app")
        self._model_curve = self.fps_plot.plot(pen=pg.mkPen((66, 165, 245), width=1), name="model only")
        self.latency_plot = _plot("latency per stage, stacked (colours as above)", "ms")
        # drawn largest cumulative first, so each smaller one paints over it: a stacked area plot
        self._stage_curves = {}
        for name, colour in reversed(STAGES.items()):
            self._stage_curves[name] = self.latency_plot.plot(pen=pg.mkPen(colour), brush=pg.mkBrush(*colour, 190),
                                                              fillLevel=0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 0, 6, 2)
        layout.addWidget(self.summary)
        layout.addWidget(self.fps_plot)
        layout.addWidget(self.latency_plot)

    def clear(self) -> None:
        for d in (self._t, self._fps, self._model_fps, *self._stages.values()):
            d.clear()
        self._refresh()

    def add(self, fps: float, timings: dict[str, float]) -> None:
        self._n += 1
        self._t.append(self._n)
        self._fps.append(fps)
        model_ms = sum(timings.get(k, 0.0) for k in ("preprocess", "inference", "upsampling"))
        self._model_fps.append(1000.0 / model_ms if model_ms > 0 else np.nan)
        for name in STAGES:
            self._stages[name].append(timings.get(name, 0.0))
        self._refresh()
        parts = " + ".join(_swatch_text(name, timings[name], colour) for name, colour in STAGES.items() if name in timings)
        model = f" &nbsp;|&nbsp; model alone {1000.0 / model_ms:.1f} FPS" if model_ms > 0 else ""
        self.summary.setText(f"<b>{fps:.1f} FPS</b>{model}<br>{parts} ms")

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
        self._fps_curve.setData(t, fps)
        self._model_curve.setData(t, model_fps, connect="finite")
        total = np.zeros(len(t))
        for name in STAGES:
            total = total + np.fromiter(self._stages[name], float)
            self._stage_curves[name].setData(t, total.copy())
        self.fps_plot.setYRange(0, _robust_top(np.concatenate([fps, model_fps]), 1.0), padding=0)
        self.latency_plot.setYRange(0, _robust_top(total, 10.0), padding=0)


class MiouPlot(QWidget):
    """Per-frame and running mIoU of GUM and bilinear decoding (sources with ground truth only)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("miou")
        self._t = deque(maxlen=HISTORY)
        self._series = {k: deque(maxlen=HISTORY) for k in ("miou_gum", "miou_bilinear", "running_miou_gum",
                                                           "running_miou_bilinear")}
        self._n = 0
        self.summary = QLabel("no ground truth for this source")
        self.summary.setObjectName("miouSummary")
        self._trimap_ticks: tuple[float, ...] = ()
        self.plot = _plot("mIoU against ground truth", "mIoU")
        self.plot.setYRange(0, 1)
        gum, bil = GUM, BILINEAR
        self._curves = {
            "miou_gum": self.plot.plot(pen=pg.mkPen(gum, width=1, style=pg.QtCore.Qt.PenStyle.DotLine), name="GUM, frame"),
            "miou_bilinear": self.plot.plot(pen=pg.mkPen(bil, width=1, style=pg.QtCore.Qt.PenStyle.DotLine), name="bilinear, frame"),
            "running_miou_gum": self.plot.plot(pen=pg.mkPen(gum, width=2), name="GUM, running"),
            "running_miou_bilinear": self.plot.plot(pen=pg.mkPen(bil, width=2), name="bilinear, running"),
        }
        self.trimap_plot = _plot("trimap", "mIoU", legend_columns=2)
        self.trimap_plot.setLabel("bottom", "band width d (px)")
        self.trimap_plot.setLogMode(x=True, y=False)
        self.trimap_plot.setYRange(0, 1, padding=0)
        self.plot.setTitle("mIoU over frames", color=(220, 220, 220), size="9pt")
        self.trimap_plot.setTitle("mIoU near edges", color=(220, 220, 220), size="9pt")
        self._trimap_curves = {
            "gum": self.trimap_plot.plot(pen=pg.mkPen(gum, width=2), symbol="o", symbolSize=5, symbolBrush=gum, name="GUM"),
            "bilinear": self.trimap_plot.plot(pen=pg.mkPen(bil, width=2), symbol="o", symbolSize=5, symbolBrush=bil,
                                              name="bilinear"),
        }
        plots = QHBoxLayout()
        plots.addWidget(self.plot)
        plots.addWidget(self.trimap_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 0, 6, 2)
        layout.addWidget(self.summary)
        layout.addLayout(plots)
        self.plot.setVisible(False)
        self.trimap_plot.setVisible(False)

    def clear(self) -> None:
        self._t.clear()
        for d in self._series.values():
            d.clear()
        self._n = 0
        self.plot.setVisible(False)
        self.trimap_plot.setVisible(False)
        self.summary.setText("no ground truth for this source")

    def set_trimap(self, trimap: dict | None) -> None:
        """Running band mIoU: {"bands": (1, 2, ...), "gum": [...], "bilinear": [...]} (None entries = no pixels)."""
        if not trimap:
            return
        self.trimap_plot.setVisible(True)
        bands = np.asarray(trimap["bands"], float)
        if self._trimap_ticks != tuple(bands):
            self._trimap_ticks = tuple(bands)
            self.trimap_plot.getAxis("bottom").setTicks([[(np.log10(b), f"{b:g}") for b in bands]])
        for name, curve in self._trimap_curves.items():
            values = np.array([np.nan if v is None else v for v in trimap[name]], float)
            curve.setData(bands, values, connect="finite")

    def add(self, scores: dict[str, float]) -> None:
        if not scores:
            return
        self.plot.setVisible(True)
        self._n += 1
        self._t.append(self._n)
        for k, d in self._series.items():
            d.append(scores.get(k, np.nan))
        t = np.fromiter(self._t, float)
        for k, curve in self._curves.items():
            curve.setData(t, np.fromiter(self._series[k], float), connect="finite")
        gum, bil = (f'<span style="color: rgb{c}">&#9632; {n}</span>' for c, n in ((GUM, "GUM"), (BILINEAR, "bilinear")))
        self.summary.setText(
            f"this frame: {gum} {scores['miou_gum']:.3f}, {bil} {scores['miou_bilinear']:.3f}<br>"
            f"running: {gum} <b>{scores['running_miou_gum']:.3f}</b>, {bil} <b>{scores['running_miou_bilinear']:.3f}</b>"
        )
