"""What segmenting one frame produces, as plain numpy (no torch), so that the drawing code, the
Qt app and the exporters can use it without importing the model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def _bilinear_at(grid: np.ndarray, x: float, y: float) -> np.ndarray:
    """grid (C, h, w) at the continuous position (x, y) in its pixel units, border-clamped."""
    _, h, w = grid.shape
    x = min(max(x, 0.0), w - 1.0)
    y = min(max(y, 0.0), h - 1.0)
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    top = grid[:, y0, x0] * (1 - fx) + grid[:, y0, x1] * fx
    bottom = grid[:, y1, x0] * (1 - fx) + grid[:, y1, x1] * fx
    return top * (1 - fy) + bottom * fy


@dataclass
class PixelProbe:
    """Everything about one output pixel: what it sampled and what each decoder made of it."""

    x: int
    y: int
    label_gum: int
    label_bilinear: int
    offset: tuple[float, float] | None  # (p, q) in low-resolution pixels; None without guidance
    source: tuple[float, float]  # regular-grid position in the low-resolution map (x_s, y_s)
    sampled: tuple[float, float]  # where GUM sampled it: source + offset (clamped to the map)
    probabilities_gum: np.ndarray  # (C,)
    probabilities_bilinear: np.ndarray  # (C,)


@dataclass
class FrameResult:
    """Segmentation of one frame; every map is at the frame's size.

    Without guidance (a bilinear-only model) `offsets` is None and `labels_gum` equals
    `labels_bilinear`: there is no second decoder to compare.
    """

    labels_gum: np.ndarray  # (H, W) uint8, the guided-upsampling decoder
    # (H, W) uint8, bilinear decoding of the same low-res logits; None where the caller did not ask
    # for it (the app decodes it only for the views that show it, and to score)
    labels_bilinear: np.ndarray | None
    offsets: np.ndarray | None  # (2, H, W) float32 in low-res pixels; channel 0 = x, 1 = y
    low_logits: np.ndarray  # (C, h, w) float32, the classifier's output before upsampling
    # where the cells of low_logits sit in frame pixels: cell (i, j) is centred on frame pixel
    # (origin_x + stride_x * j, origin_y + stride_y * i); (stride_x, stride_y, origin_x, origin_y)
    low_grid: tuple[float, float, float, float]
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage
    probabilities: np.ndarray | None = None  # (C, H, W) float32 of the GUM decoder, on request
    gum_mode: str = "bilinear"  # how labels_gum sampled low_logits: "bilinear" or "nearest"
    # (H, W) uint8 ground truth of the frame, attached by the caller when the source has it;
    # the disagreement map then says which decoder is right
    ground_truth: np.ndarray | None = None

    @property
    def has_guidance(self) -> bool:
        return self.offsets is not None

    @property
    def px_per_low_px(self) -> tuple[float, float]:
        """Frame pixels per low-resolution pixel, (x, y)."""
        return self.low_grid[0], self.low_grid[1]

    def to_frame(self, u: float, v: float) -> tuple[float, float]:
        """Frame pixel coordinates (x, y) of low-resolution position (u, v)."""
        sx, sy, ox, oy = self.low_grid
        return ox + sx * u, oy + sy * v

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels_gum.shape

    def probe(self, x: int, y: int) -> PixelProbe:
        """Class probabilities, offset and sampled low-res position of frame pixel (x, y).

        Computed here from `low_logits` and `offsets` with the GUM convention of gun.nn.gum (pixel
        centres, the cells' true placement `low_grid`, border clamp), so no full probability maps
        are needed.
        """
        H, W = self.shape
        x, y = int(min(max(x, 0), W - 1)), int(min(max(y, 0), H - 1))
        _, h, w = self.low_logits.shape
        sx, sy, ox, oy = self.low_grid
        xs, ys = (x - ox) / sx, (y - oy) / sy
        bilinear = _softmax(_bilinear_at(self.low_logits, xs, ys))
        offset = None
        px, py = xs, ys
        if self.offsets is not None:
            offset = (float(self.offsets[0, y, x]), float(self.offsets[1, y, x]))
            px, py = xs + offset[0], ys + offset[1]
        px, py = min(max(px, 0.0), w - 1.0), min(max(py, 0.0), h - 1.0)
        if self.offsets is None:
            gum = bilinear
        elif self.gum_mode == "nearest":
            gum = _softmax(self.low_logits[:, int(np.floor(py + 0.5)), int(np.floor(px + 0.5))])
        else:
            gum = _softmax(_bilinear_at(self.low_logits, px, py))
        label_bilinear = int(self.labels_bilinear[y, x]) if self.labels_bilinear is not None else int(np.argmax(bilinear))
        return PixelProbe(
            x, y, int(self.labels_gum[y, x]), label_bilinear, offset,
            (xs, ys), (px, py), gum.astype(np.float32), bilinear.astype(np.float32),
        )
