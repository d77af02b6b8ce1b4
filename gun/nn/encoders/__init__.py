"""Encoders: each exposes its stages by branch role (medium, low, full) and its guide activation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from torch import Tensor

from gun.nn.encoders import drn, efficientnet_lite


class Encoder(Protocol):
    """What GUN needs of an encoder: its stages by branch role, the guide activation, the widths and
    strides of the maps it hands over (cells of a stride-s map sit at s * i of its input,
    gun.nn.geometry), and the input normalisation its weights expect."""

    guide_channels: int
    medium_channels: int
    low_channels: int
    full_channels: int
    guide_stride: int
    medium_stride: int
    low_stride: int
    guide_stage_index: int  # the guide is the output of medium_stages()[guide_stage_index]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def medium_stages(self) -> list[Callable[[Tensor], Tensor]]: ...  # input -> output stride 8, before going coarser
    def low_stages(self) -> list[Callable[[Tensor], Tensor]]: ...  # medium output -> the low branch's features
    def full_stages(self) -> list[Callable[[Tensor], Tensor]]: ...  # medium output -> the whole trunk's features
    def trim(self, role: str) -> None: ...  # drop what a branch of this role never runs


# the concrete encoders (nn.Modules that satisfy Encoder; checked by mypy below)
EncoderModule = drn.DRN_D_22 | efficientnet_lite.EfficientNetLite0
_SATISFY_THE_PROTOCOL: tuple[Encoder, ...] = (drn.DRN_D_22(), efficientnet_lite.EfficientNetLite0()) if TYPE_CHECKING else ()

_CLASSES: dict[str, type[EncoderModule]] = {"drn_d_22": drn.DRN_D_22, "efficientnet_lite0": efficientnet_lite.EfficientNetLite0}


def _encoder_class(name: str) -> type[EncoderModule]:
    if name not in _CLASSES:
        raise ValueError(f"unknown encoder {name!r}: choose one of {', '.join(_CLASSES)}")
    return _CLASSES[name]


def build_encoder(name: str) -> EncoderModule:
    return _encoder_class(name)()


def normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the encoder's input, for RGB scaled to [0, 1]."""
    cls = _encoder_class(name)
    return cls.mean, cls.std


def imagenet_state_dict(name: str, path: str | Path | None = None) -> dict[str, Tensor]:
    """ImageNet weights for an encoder: DRN-D-22 needs the official file; Lite0's ship with pip."""
    if name == "drn_d_22":
        if path is None:
            raise ValueError("DRN-D-22 ImageNet weights cannot be had offline: pass the official drn_d_22-4bd2f8ea.pth")
        return drn.load_imagenet_state_dict(path)
    return efficientnet_lite.load_imagenet_state_dict(path)
