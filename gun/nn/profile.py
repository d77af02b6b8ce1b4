"""Parameter and FLOP counts computed from the model itself (on the meta device: no memory, no time)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from gun.nn.config import GUNConfig
from gun.nn.model import build_model


def count_params(config: GUNConfig) -> int:
    with torch.device("meta"):
        model = build_model(config)
    return sum(p.numel() for p in model.parameters())


def count_flops(config: GUNConfig, size: tuple[int, int], batch: int = 1) -> int:
    """FLOPs (2 per multiply-add, convolutions and matmuls) of one inference forward at size (H, W)."""
    with torch.device("meta"):
        model = build_model(config).eval()
        x = torch.empty(batch, 3, *size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()
