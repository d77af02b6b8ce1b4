"""What the machine can do fast: native bf16 on the CPU, and the precision `auto` means."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

# CPU flags (Linux /proc/cpuinfo names) of instructions that multiply bf16 natively: AMX tiles
# (Sapphire Rapids and later) and AVX512-BF16 (Cooper Lake, Zen 4 and later). Without them bf16
# is emulated and slower than float32 (measured: about 10x on an AMD EPYC without AVX-512).
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is not readable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    return any(flag in cpu_flags() for flag in BF16_FLAGS)


def auto_dtype(device: torch.device) -> torch.dtype:
    """The precision `auto` picks: float16 on CUDA (tensor cores, and 3 more mantissa bits than
    bf16), bfloat16 on a CPU with native bf16, float32 on any other CPU."""
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
