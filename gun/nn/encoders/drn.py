"""DRN-D-22 (Yu, Koltun, Funkhouser, "Dilated Residual Networks", CVPR 2017).

Layer for layer the reference implementation's `drn_d_22` (fyu/drn, drn.py) without `fc`: the
state_dict keys and shapes are identical, so the official ImageNet file loads with strict=True.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from gun.nn.encoders.pth import load_state_dict

CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)
LAYERS = (1, 1, 2, 2, 2, 2, 1, 1)
# Cityscapes statistics DRN was trained with (RGB in [0, 1])
MEAN = (0.290101, 0.328081, 0.286964)
STD = (0.182954, 0.186566, 0.184475)


def conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


def conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """conv(stride, d) -> BN -> ReLU -> conv(d) -> BN -> + residual -> ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride, dilation)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(cout, cout, dilation=dilation)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


def _stage(cin: int, cout: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
    # drn.py's _make_layer with new_level=False (as drn_d_22 builds layer5/6): every block uses d
    layers = [BasicBlock(cin, cout, stride, dilation)]
    layers += [BasicBlock(cout, cout, dilation=dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class DRN_D_22(nn.Module):
    """The DRN-D-22 trunk, layer0 ... layer8; forward returns layer8's output (N, 512, H/8, W/8).

    Branch roles in GUN: `medium` = layer0..layer4 (128 ch, stride 8, before the dilated layers);
    `low` = layer0..layer6 (512 ch, stride 8); `full` = layer0..layer8 (single-branch presets).
    `guide` is layer2's activation (32 ch, stride 2), the high-resolution guidance input.
    """

    guide_channels = CHANNELS[1]
    medium_channels = CHANNELS[3]
    low_channels = CHANNELS[5]
    full_channels = CHANNELS[7]
    guide_stride, medium_stride, low_stride = 2, 8, 8  # of the branch input; cells at stride * i
    mean, std = MEAN, STD

    def __init__(self) -> None:
        super().__init__()
        c = CHANNELS
        self.layer0 = conv_bn_relu(3, c[0], 7)
        self.layer1 = conv_bn_relu(c[0], c[0], 3)
        self.layer2 = conv_bn_relu(c[0], c[1], 3, stride=2)
        self.layer3 = _stage(c[1], c[2], LAYERS[2], stride=2, dilation=1)
        self.layer4 = _stage(c[2], c[3], LAYERS[3], stride=2, dilation=1)
        self.layer5 = _stage(c[3], c[4], LAYERS[4], stride=1, dilation=2)
        self.layer6 = _stage(c[4], c[5], LAYERS[5], stride=1, dilation=4)
        self.layer7 = conv_bn_relu(c[5], c[6], 3, dilation=2)
        self.layer8 = conv_bn_relu(c[6], c[7], 3, dilation=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # drn.py's init
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def medium_stages(self) -> list[Callable[[Tensor], Tensor]]:
        return [self.layer0, self.layer1, self.layer2, self.layer3, self.layer4]

    def low_stages(self) -> list[Callable[[Tensor], Tensor]]:
        return [self.layer5, self.layer6]

    def full_stages(self) -> list[Callable[[Tensor], Tensor]]:
        return [self.layer5, self.layer6, self.layer7, self.layer8]

    guide_stage_index = 2  # the guide is the output of medium_stages()[2] (layer2)

    def trim(self, role: str) -> None:
        """Drop the layers a branch of this role never runs ("medium", "low" or "full")."""
        drop = {"medium": ("layer5", "layer6", "layer7", "layer8"), "low": ("layer7", "layer8"), "full": ()}[role]
        for name in drop:
            delattr(self, name)

    def forward(self, x: Tensor) -> Tensor:
        for stage in self.medium_stages() + self.full_stages():
            x = stage(x)
        return x  # (N, 512, H/8, W/8)


def drn_d_22() -> DRN_D_22:
    return DRN_D_22()


def load_imagenet_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The official drn_d_22-4bd2f8ea.pth, read without unpickling code, minus the classifier."""
    return {k: v for k, v in load_state_dict(path).items() if not k.startswith("fc.")}
