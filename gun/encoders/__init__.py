"""Encoders: each exposes its stages by branch role (medium, low, full) and its guide activation."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from gun.encoders import drn, efficientnet_lite

Encoder = drn.DRN_D_22 | efficientnet_lite.EfficientNetLite0


def build_encoder(name: str) -> Encoder:
    if name == "drn_d_22":
        return drn.drn_d_22()
    if name == "efficientnet_lite0":
        return efficientnet_lite.efficientnet_lite0()
    raise ValueError(f"unknown encoder {name!r}: choose drn_d_22 or efficientnet_lite0")


def imagenet_state_dict(name: str, path: str | Path | None = None) -> dict[str, Tensor]:
    """ImageNet weights for an encoder: DRN-D-22 needs the official file; Lite0's ship with pip."""
    if name == "drn_d_22":
        if path is None:
            raise ValueError("DRN-D-22 ImageNet weights cannot be had offline: pass the official drn_d_22-4bd2f8ea.pth")
        return drn.load_imagenet_state_dict(path)
    return efficientnet_lite.load_imagenet_state_dict(path)


def load_imagenet(encoder: nn.Module, name: str, path: str | Path | None = None) -> None:
    encoder.load_state_dict(imagenet_state_dict(name, path), strict=True)
