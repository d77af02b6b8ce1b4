"""Guidance modules (paper section 4, Table 4): predict the guidance offset table.

Each returns offsets (N, 2, h', w') on its own `grid` (the model resamples them to the output), in
low-resolution pixels (channel 0 = x), bounded to +-bound. The paper neither initialises nor bounds
the offsets; later learned samplers (DySample, AlignSeg, SFNet) showed both matter, so the one
`OffsetHead` they share is zero-initialised (training starts from plain bilinear upsampling: the
GUM with zero offsets *is* bilinear upsampling) and bounded by a tanh (DySample's "scope").
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gun.nn.geometry import Grid, resample
from gun.nn.layers import conv_bn


class OffsetHead(nn.Module):
    """conv -> 2 channels, zero-initialised, then bound * tanh. With subpixel = r > 1 the conv
    gives 2 * r * r channels, rearranged (pixel shuffle) into 2 channels on an r times finer grid."""

    def __init__(self, cin: int, bound: float, kernel: int = 3, subpixel: int = 1) -> None:
        super().__init__()
        self.bound = bound
        self.subpixel = subpixel
        self.conv = nn.Conv2d(cin, 2 * subpixel * subpixel, kernel, padding=kernel // 2)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(cast(Tensor, self.conv.bias))  # Conv2d(bias=True) has one; the stub allows None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.subpixel > 1:
            x = F.pixel_shuffle(x, self.subpixel)
        return self.bound * torch.tanh(x)


def pooled_grid(guide_grid: Grid, pool: int) -> Grid:
    """Where the cells of the guide averaged over pool x pool cells sit: cell k covers guide cells
    pool*k .. pool*k + pool - 1, so its centre is at guide cell pool*k + (pool - 1) / 2."""
    return guide_grid if pool == 1 else guide_grid.then(Grid.regular(float(pool), (pool - 1) / 2))


def pool_guide(guide: Tensor, pool: int) -> Tensor:
    return guide if pool == 1 else F.avg_pool2d(guide, pool)


class HighResGuidance(nn.Module):
    """high-res: one 1x1 conv on the medium branch's stride-2 activation (DRN's layer2, 32 ch)."""

    def __init__(self, guide_channels: int, bound: float, guide_grid: Grid, pool: int = 1) -> None:
        super().__init__()
        self.head = OffsetHead(guide_channels, bound, kernel=1)
        self.pool = pool
        self.grid = pooled_grid(guide_grid, pool)

    def forward(self, guide: Tensor, fused: Tensor) -> Tensor:
        return self.head(pool_guide(guide, self.pool))  # (N, 2, H/2p, W/2p) of the medium input


class LargeRFGuidance(nn.Module):
    """large-rf: from the fusion module's output, three x2 upsampling steps interleaved with
    Conv-BN-ReLU (widths w, w/2, w/4), then the offset head."""

    def __init__(self, fused_channels: int, width: int, bound: float, fused_grid: Grid) -> None:
        super().__init__()
        self.steps = nn.ModuleList([conv_bn(fused_channels, width), conv_bn(width, width // 2), conv_bn(width // 2, width // 4)])
        self.head = OffsetHead(width // 4, bound)
        self.fused_grid = fused_grid
        self.grid = Grid(tuple(s / 8 for s in fused_grid.stride), fused_grid.origin)  # type: ignore[arg-type]

    def forward(self, guide: Tensor, fused: Tensor) -> Tensor:
        x, grid = fused, self.fused_grid
        for step in self.steps:  # stride 8 -> 4 -> 2 -> 1 of the medium input
            finer = Grid((grid.stride[0] / 2, grid.stride[1] / 2), grid.origin)
            x = resample(step(x), grid.within(finer), (2 * x.shape[-2], 2 * x.shape[-1]))
            grid = finer
        return self.head(x)


class FusionGuidance(nn.Module):
    """fusion (the paper's choice): the high-resolution guide and the large-receptive-field fusion
    output merged by "base sum": two Conv-BN blocks (one per signal, to a common width), a single
    upsampling (of the large signal onto the guide's grid), ReLU, then the offset head. With
    pool > 1 the module runs on pool x pool cells of the guide (ours: pool**2 times fewer pixels):
    the guide averaged over each cell, or with subpixel read whole by a pool x pool convolution of
    stride pool, and the head then writes the offsets of each of the cell's guide pixels."""

    def __init__(self, guide_channels: int, fused_channels: int, width: int, bound: float,
                 guide_grid: Grid, fused_grid: Grid, pool: int = 1, subpixel: bool = False) -> None:
        super().__init__()
        if subpixel:  # Conv-BN over each cell: a 1x1 convolution of the cell's pixels stacked as channels
            self.high = nn.Sequential(nn.Conv2d(guide_channels, width, pool, stride=pool, bias=False), nn.BatchNorm2d(width))
        else:
            self.high = conv_bn(guide_channels, width, 1, relu=False)
        self.large = conv_bn(fused_channels, width, 3, relu=False)
        self.head = OffsetHead(width, bound, subpixel=pool if subpixel else 1)
        self.pool = 1 if subpixel else pool  # the strided convolution does the pooling
        self.cells = pooled_grid(guide_grid, pool)  # where the module's own maps sit
        self.grid = guide_grid if subpixel else self.cells  # where its offsets sit
        self.fused_grid = fused_grid

    def forward(self, guide: Tensor, fused: Tensor) -> Tensor:
        high = self.high(pool_guide(guide, self.pool))
        large = resample(self.large(fused), self.fused_grid.within(self.cells), high.shape[-2:])
        return self.head(F.relu(high + large))  # (N, 2, H/2p, W/2p) of the medium input; H/2, W/2 with subpixel


GuidanceModule = HighResGuidance | LargeRFGuidance | FusionGuidance
