"""The Guided Upsampling Module operator (paper section 4, equations 1-4).

Convention (the paper leaves it open; tests pin it down):
- The regular grid (x_s, y_s) of output pixel (i, j) is where that pixel lies in the input's h x w
  cells, given where those cells sit in output pixels (`placement`, a gun.nn.geometry.Grid):
      x_s = (j - origin_x) / stride_x,   y_s = (i - origin_y) / stride_y
  The model passes the true placement of its feature maps (gun.nn.geometry). Without one, the cells
  are assumed spread evenly over the output, x_s = (j + 0.5) * w / W - 0.5 (PyTorch's
  align_corners=False geometry).
- offsets (N, 2, H, W) are in input (low-resolution) pixels: channel 0 = p (x), channel 1 = q (y).
- Positions outside the map are clamped to the border.
Hence with zero offsets bilinear GUM == gun.nn.geometry.resample (== F.interpolate(mode="bilinear",
align_corners=False) without a placement) and nearest GUM == F.interpolate(mode="nearest-exact").
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gun.nn.geometry import Grid, normalised_grid, sample_positions

Mode = Literal["bilinear", "nearest"]


def source_grid(h: int, w: int, H: int, W: int, device: torch.device, dtype: torch.dtype,
                placement: Grid | None = None) -> tuple[Tensor, Tensor]:
    """Source coordinates (x_s of shape (W,), y_s of shape (H,)) of the regular upsampling grid."""
    ys, xs = sample_positions(placement or Grid.centred((h, w), (H, W)), (H, W), device, dtype)
    return xs, ys


def _check(x: Tensor, offsets: Tensor) -> None:
    if offsets.dim() != 4 or offsets.shape[1] != 2:
        raise ValueError(f"offsets must be (N, 2, H, W), got {tuple(offsets.shape)}")
    if x.shape[0] != offsets.shape[0]:
        raise ValueError(f"batch sizes differ: input {x.shape[0]}, offsets {offsets.shape[0]}")


def _nearest_index(h: int, w: int, offsets: Tensor, placement: Grid | None) -> Tensor:
    """Flat index into an h x w map of eq. 2's sample for every output pixel: (N, H*W), int64."""
    N, _, H, W = offsets.shape
    # float32 at least: half precision cannot hold coordinates of large maps exactly
    dtype = torch.promote_types(offsets.dtype, torch.float32)
    xs, ys = source_grid(h, w, H, W, offsets.device, dtype, placement)
    # floor(x + 0.5) as in eq. 2 (round half up); clamp = border padding
    col = torch.floor(xs.view(1, 1, W) + offsets[:, 0].to(dtype) + 0.5).clamp_(0, w - 1).long()
    row = torch.floor(ys.view(1, H, 1) + offsets[:, 1].to(dtype) + 0.5).clamp_(0, h - 1).long()
    return (row * w + col).view(N, H * W)


def guided_upsample(x: Tensor, offsets: Tensor, mode: Mode = "bilinear", placement: Grid | None = None) -> Tensor:
    """Sample x (N, C, h, w) at the regular output grid plus offsets (N, 2, H, W) -> (N, C, H, W).

    "bilinear" is equation 4 and is differentiable w.r.t. x and offsets; "nearest" is equation 2
    (zero gradient w.r.t. the offsets: train with bilinear, infer with either).
    """
    _check(x, offsets)
    N, C, h, w = x.shape
    H, W = offsets.shape[-2:]
    if mode == "nearest":
        index = _nearest_index(h, w, offsets, placement)  # (N, H*W)
        out = torch.gather(x.reshape(N, C, h * w), 2, index.unsqueeze(1).expand(N, C, H * W))
        return out.view(N, C, H, W)
    if mode != "bilinear":
        raise ValueError(f"unknown GUM mode {mode!r}: choose bilinear or nearest")
    # Positions in float32 at least: in bf16/fp16 (autocast) they would be rounded by up to a
    # low-resolution pixel on large maps, and training would sample elsewhere than evaluation.
    dtype = torch.promote_types(torch.promote_types(x.dtype, offsets.dtype), torch.float32)
    xs, ys = source_grid(h, w, H, W, x.device, dtype, placement)
    px = xs.view(1, 1, W) + offsets[:, 0].to(dtype)  # (N, H, W) source x in input pixels
    py = ys.view(1, H, 1) + offsets[:, 1].to(dtype)
    # grid_sample's "border" padding clamps to [0, size - 1]: exactly eq. 4 on the clamped position
    grid = normalised_grid(px, py, h, w)
    return F.grid_sample(x.to(dtype), grid, mode="bilinear", padding_mode="border", align_corners=False)


def guided_upsample_labels(labels: Tensor, offsets: Tensor, placement: Grid | None = None) -> Tensor:
    """Nearest GUM in label space: labels (N, h, w) -> (N, H, W).

    Nearest GUM copies one input cell per output pixel, so it commutes with argmax:
    argmax(guided_upsample(U, o, "nearest")) == guided_upsample_labels(argmax(U), o), reading C
    times fewer bytes. Use it for fast inference.
    """
    _check(labels, offsets)
    N, h, w = labels.shape
    H, W = offsets.shape[-2:]
    index = _nearest_index(h, w, offsets, placement)
    return torch.gather(labels.reshape(N, h * w), 1, index).view(N, H, W)
