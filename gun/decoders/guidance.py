"""Guidance modules (paper section 4, Table 4): predict the guidance offset table.

Each returns offsets (N, 2, H, W) at the output size, in low-resolution pixels (channel 0 = x),
bounded to +-bound by a tanh. The paper neither initialises nor bounds the offsets; later learned
samplers (DySample, AlignSeg, SFNet) showed both matter, so:
- the last conv is zero-initialised: offsets start at exactly 0 and training starts from plain
  bilinear upsampling (the GUM with zero offsets *is* bilinear upsampling);
- offsets = bound * tanh(raw), so samples cannot wander off (DySample's "scope").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gun.layers import conv_bn, resize


def _offset_head(cin: int) -> nn.Conv2d:
    head = nn.Conv2d(cin, 2, 3, padding=1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


class GuidanceModule(nn.Module):
    """kind: "high-res" | "large-rf" | "fusion" (see the paper's Table 4).

    - high-res: one 1x1 conv on the medium branch's stride-2 activation (guide, e.g. DRN layer2).
    - large-rf: from the fusion module's output, three x2 upsampling steps interleaved with
      Conv-BN-ReLU (widths g, g/2, g/4), then the offset conv.
    - fusion: the high-res map (1x1 Conv-BN on the guide) and a large-receptive-field map (3x3
      Conv-BN on the fusion output, upsampled to the guide's size) merged by sum, then two blocks
      (Conv-BN-ReLU, then the offset conv) and one upsampling to the output size.
    """

    def __init__(self, kind: str, guide_channels: int, fused_channels: int, width: int, bound: float) -> None:
        super().__init__()
        self.kind, self.bound = kind, bound
        if kind == "high-res":
            self.head = nn.Conv2d(guide_channels, 2, 1)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        elif kind == "large-rf":
            self.steps = nn.ModuleList([conv_bn(fused_channels, width), conv_bn(width, width // 2), conv_bn(width // 2, width // 4)])
            self.head = _offset_head(width // 4)
        elif kind == "fusion":
            self.high = conv_bn(guide_channels, width, 1, relu=False)
            self.large = conv_bn(fused_channels, width, 3, relu=False)
            self.block = conv_bn(width, width, 3)
            self.head = _offset_head(width)
        else:
            raise ValueError(f"unknown guidance {kind!r}")

    def forward(self, guide: Tensor, fused: Tensor, size: tuple[int, int]) -> Tensor:
        if self.kind == "high-res":
            raw = self.head(guide)  # (N, 2, H/2, W/2) of the medium input
        elif self.kind == "large-rf":
            x = fused
            for step in self.steps:  # stride 8 -> 4 -> 2 -> 1 of the medium input
                x = F.interpolate(step(x), scale_factor=2.0, mode="bilinear", align_corners=False)
            raw = self.head(x)
        else:
            x = F.relu(self.high(guide) + resize(self.large(fused), guide.shape[-2:]))
            raw = self.head(self.block(x))
        offsets = self.bound * torch.tanh(raw)
        return resize(offsets, size)  # (N, 2, H, W)
