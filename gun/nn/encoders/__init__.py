"""Encoders: each exposes its stages by branch role (medium, low, full) and its guide activation."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from gun.nn.encoders import drn, efficientnet_lite

Encoder = drn.DRN_D_22 | efficientnet_lite.EfficientNetLite0


_CLASSES: dict[str, type[Encoder]] = {"drn_d_22": drn.DRN_D_22, "efficientnet_lite0": efficientnet_lite.EfficientNetLite0}


def _encoder_class(name: str) -> type[Encoder]:
    if name not in _CLASSES:
        raise ValueError(f"unknown encoder {name!r}: choose one of {', '.join(_CLASSES)}")
    return _CLASSES[name]


def build_encoder(name: str) -> Encoder:
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


def load_imagenet(encoder: nn.Module, name: str, path: str | Path | None = None) -> None:
    encoder.load_state_dict(imagenet_state_dict(name, path), strict=True)
