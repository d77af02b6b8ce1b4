"""Pixel inspector: a clicked pixel's classes under both decoders, its offset vector and the
low-resolution position it sampled."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gun.runtime.result import PixelProbe

HINT = "Click the frame to inspect a pixel."


def _name(names: Sequence[str], i: int) -> str:
    return escape(names[i]) if 0 <= i < len(names) else ("ignore" if i == 255 else str(i))


class PixelInspector(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspector")
        self.label = QLabel(HINT)
        self.label.setObjectName("inspectorText")
        self.label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.label)
        layout.addStretch(1)

    def show_probe(self, probe: PixelProbe | None, class_names: Sequence[str], truth: int | None = None) -> None:
        if probe is None:
            self.label.setText(HINT)
            return
        lines = [f"<b>pixel</b> ({probe.x}, {probe.y})"]
        if truth is not None:
            lines.append(f"<b>ground truth</b>: {_name(class_names, truth)}")
        lines.append(f"<b>GUM</b>: {_name(class_names, probe.label_gum)} "
                     f"({probe.probabilities_gum[probe.label_gum]:.2f})" if probe.label_gum < len(probe.probabilities_gum)
                     else f"<b>GUM</b>: {probe.label_gum}")
        lines.append(f"<b>bilinear</b>: {_name(class_names, probe.label_bilinear)} "
                     f"({probe.probabilities_bilinear[probe.label_bilinear]:.2f})"
                     if probe.label_bilinear < len(probe.probabilities_bilinear) else f"<b>bilinear</b>: {probe.label_bilinear}")
        if probe.offset is not None:
            p, q = probe.offset
            lines.append(f"<b>offset</b> (p, q) = ({p:+.3f}, {q:+.3f}) low-res px")
        else:
            lines.append("<b>offset</b>: none (model without guidance)")
        lines.append(f"<b>grid position</b> ({probe.source[0]:.2f}, {probe.source[1]:.2f}) &rarr; "
                     f"<b>sampled</b> ({probe.sampled[0]:.2f}, {probe.sampled[1]:.2f}) in the low-res map")
        top = np.argsort(probe.probabilities_gum)[::-1][:3]
        rows = "".join(f"<tr><td>{_name(class_names, int(i))}</td><td align=right>{probe.probabilities_gum[i]:.3f}</td>"
                       f"<td align=right>{probe.probabilities_bilinear[i]:.3f}</td></tr>" for i in top)
        table = f"<table><tr><th align=left>class</th><th>GUM</th><th>bilinear</th></tr>{rows}</table>"
        self.label.setText("<br>".join(lines) + table)
