"""Where the cells of a feature map sit in the image, and resampling that respects it.

A stride-s convolution padded symmetrically (odd kernel, padding k // 2) centres output cell i on
input pixel s*i, so every stride-s feature map of both encoders has its cells at s*i: not at
s*i + (s - 1) / 2, which is what `F.interpolate(..., align_corners=False)` assumes. Resampling that
ignores this misplaces stride-8 features by 3.5 pixels; a learned offset field then spends itself
undoing a constant shift (measured on the first shipped model: one global translation recovered
6.0 of the GUM's 7.3 points over bilinear decoding). So every map carries a `Grid`, and every
resize between resolutions, the GUM's base grid included, samples at the true cell positions.

Coordinates are pixel centres at integers, (y, x) order. `Grid(stride, origin)`: cell i of the map
is centred at origin + stride * i, per axis, in some reference frame (the network input, or the
output frame of a decoder).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

Pair = tuple[float, float]


class Grid(NamedTuple):
    stride: Pair  # reference pixels per cell, (y, x)
    origin: Pair  # reference coordinate of cell 0's centre, (y, x)

    @staticmethod
    def regular(stride: float, origin: float = 0.0) -> Grid:
        return Grid((stride, stride), (origin, origin))

    @staticmethod
    def centred(src: Sequence[int], dst: Sequence[int]) -> Grid:
        """Cells of an h x w map spread over an H x W frame as `align_corners=False` assumes:
        cell i covers frame pixels [i * H/h, (i + 1) * H/h), centred in that span."""
        sy, sx = dst[0] / src[0], dst[1] / src[1]
        return Grid((sy, sx), ((sy - 1) / 2, (sx - 1) / 2))

    def then(self, inner: Grid) -> Grid:
        """`inner` is a grid laid over this grid's cells; where its cells sit in our reference."""
        return Grid((self.stride[0] * inner.stride[0], self.stride[1] * inner.stride[1]),
                    (self.origin[0] + self.stride[0] * inner.origin[0], self.origin[1] + self.stride[1] * inner.origin[1]))

    def within(self, frame: Grid) -> Grid:
        """This grid expressed in the cells of `frame` (both in one reference)."""
        return Grid((self.stride[0] / frame.stride[0], self.stride[1] / frame.stride[1]),
                    ((self.origin[0] - frame.origin[0]) / frame.stride[0], (self.origin[1] - frame.origin[1]) / frame.stride[1]))


IDENTITY = Grid.regular(1.0)


def branch_grid(scale: float, stride: int) -> Grid:
    """Where a stride-`stride` feature of a branch that sees the input resized by `scale` sits in
    the input. The branch input is made by `F.interpolate(scale_factor=scale, align_corners=False)`
    (see `scale_input`), so its pixel k sits at (k + 0.5) / scale - 0.5; the encoder's own cells
    sit at stride * i of the branch input."""
    return Grid.regular(1.0 / scale, 0.5 / scale - 0.5).then(Grid.regular(float(stride)))


def scale_input(x: Tensor, scale: float) -> Tensor:
    """The input of a branch at `scale` (1 = x itself). Given as a factor, not a size, so that the
    geometry above is exact and an exported graph has no size arithmetic to trace."""
    if scale == 1:
        return x
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False, recompute_scale_factor=False)


def input_multiple(stride: int, scales: Sequence[float]) -> int:
    """The smallest m such that every branch of an input whose sides are multiples of m is an
    exact multiple of `stride` pixels: the padding every frame needs."""
    m = 1
    for s in scales:
        f = Fraction(s).limit_denominator(1000)
        m = math.lcm(m, f.denominator * stride // math.gcd(f.numerator, stride))
    return m


def sample_positions(placement: Grid, size: Sequence[int], device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """For every output pixel of an H x W output, the source position (ys (H,), xs (W,)) in source
    cells, when the source's cells sit at `placement` in output pixels."""
    H, W = size
    ys = (torch.arange(H, device=device, dtype=dtype) - placement.origin[0]) / placement.stride[0]
    xs = (torch.arange(W, device=device, dtype=dtype) - placement.origin[1]) / placement.stride[1]
    return ys, xs


def normalised_grid(px: Tensor, py: Tensor, h: int, w: int) -> Tensor:
    """grid_sample's (x, y) in [-1, 1] for source positions in cells (align_corners=False reads
    cell u at (2u + 1) / size - 1); its "border" padding then clamps to the edge cells."""
    return torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)


def resample(x: Tensor, placement: Grid, size: Sequence[int]) -> Tensor:
    """Bilinear resampling of x (N, C, h, w), whose cells sit at `placement` in output pixels, onto
    an output of `size` (H, W); positions off the map take the border value."""
    h, w = x.shape[-2:]
    H, W = int(size[0]), int(size[1])
    if placement == IDENTITY and (h, w) == (H, W):
        return x
    if _close(placement, Grid.centred((h, w), (H, W))):
        # the same positions as F.interpolate's, which is faster than grid_sample
        return F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False)
    if _whole_number(*placement.stride, *placement.origin) and min(placement.stride) >= 1:
        return _upsample_on_cells(x, placement, H, W)
    dtype = torch.promote_types(x.dtype, torch.float32)
    grid = _resample_grid(placement, h, w, H, W, x.device, dtype).expand(x.shape[0], H, W, 2)
    return F.grid_sample(x.to(dtype), grid, mode="bilinear", padding_mode="border", align_corners=False).to(x.dtype)


@functools.lru_cache(maxsize=64)
def _resample_grid(placement: Grid, h: int, w: int, H: int, W: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """The sampling grid of `resample`, (1, H, W, 2): the same for every frame of a video, so built once
    (as an ordinary tensor even under inference_mode, so that training may reuse it)."""
    with torch.inference_mode(False), torch.no_grad():
        ys, xs = sample_positions(placement, (H, W), device, dtype)
        return normalised_grid(xs.view(1, 1, W).expand(1, H, W), ys.view(1, H, 1).expand(1, H, W), h, w)


def _upsample_on_cells(x: Tensor, placement: Grid, H: int, W: int) -> Tensor:
    """`resample` when cell i sits on output pixel o + k*i with whole k and o (the encoders' own grids
    upsampled to finer ones: the fusion and guidance modules, the offsets at the input's size). Output
    pixel o + m then reads position m/k, which `align_corners=True` interpolation onto k*(h-1) + 1
    pixels gives exactly; pixels outside that span take the border value (replicate padding).
    Separable interpolation is about twice as fast as grid_sample in torch, and more in OpenVINO."""
    h, w = x.shape[-2:]
    (ky, kx), (oy, ox) = (int(k) for k in placement.stride), (int(o) for o in placement.origin)
    y = F.interpolate(x, size=(ky * (h - 1) + 1, kx * (w - 1) + 1), mode="bilinear", align_corners=True)
    # crop what lies before the output's first pixel (negative origin), then pad or crop to H x W;
    # at least one row and column stay, for outputs that lie wholly beyond the map's border
    y = y[..., min(max(-oy, 0), y.shape[-2] - 1):, min(max(-ox, 0), y.shape[-1] - 1):]
    top, left = min(max(oy, 0), H - 1), min(max(ox, 0), W - 1)
    y = y[..., :H - top, :W - left]
    pad = (left, W - left - y.shape[-1], top, H - top - y.shape[-2])
    return F.pad(y, pad, mode="replicate") if any(pad) else y


def _whole_number(*values: float) -> bool:
    return all(float(v).is_integer() for v in values)


def _close(a: Grid, b: Grid) -> bool:
    return all(abs(p - q) < 1e-9 for p, q in zip((*a.stride, *a.origin), (*b.stride, *b.origin)))
