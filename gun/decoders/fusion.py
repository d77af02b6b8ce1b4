"""The fusion module (paper section 3, Table 2): merges the medium and low branches.

The low-resolution signal is upsampled to the (first) medium branch's size, each medium signal is
expanded to the low branch's width (1x1 Conv-BN), they are merged by sum or concatenation, and the
"postproc" variants add a dimensionality-reducing Conv-BN-ReLU stack before the classifier.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gun.layers import conv_bn, resize


class FusionModule(nn.Module):
    def __init__(self, medium_channels: int, low_channels: int, num_medium: int, merge: str, postproc: Sequence[int]) -> None:
        super().__init__()
        self.merge = merge
        self.expand = nn.ModuleList(conv_bn(medium_channels, low_channels, 1, relu=False) for _ in range(num_medium))
        width = low_channels * (1 + num_medium if merge == "concat" else 1)
        post: list[nn.Module] = []
        for out in postproc:
            post.append(conv_bn(width, out, 3))
            width = out
        self.postproc = nn.Sequential(*post)
        self.out_channels = width

    def forward(self, mediums: Sequence[Tensor], low: Tensor) -> Tensor:
        if mediums:
            size = mediums[0].shape[-2:]  # (h, w) of the highest-resolution medium branch
            signals = [resize(low, size)] + [resize(e(m), size) for e, m in zip(self.expand, mediums)]
            low = F.relu(torch.stack(signals).sum(0)) if self.merge == "sum" else torch.cat(signals, dim=1)
        return self.postproc(low)  # (N, out_channels, h, w)
