"""The device's dense matmul rate, measured in the run that uses it, and the floor it sets.

floor = model FLOPs / rate: the time the network would take if every FLOP ran at the rate of one
large square matrix product in the same precision on the same device (threads included). Real
convolutions reach less (small channel counts, memory traffic), so `multiple = time / floor`
says how far a runtime is from what the hardware allows, not whether the floor is reachable.
"""

from __future__ import annotations

import time
from typing import TypedDict

import torch

MAX_N = {"cpu": 2048, "cuda": 8192}


class MatmulRate(TypedDict):
    n: int
    seconds: float
    tflops: float
    dtype: str


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def matmul_rate(device: torch.device, dtype: torch.dtype, reps: int = 5, max_n: int | None = None) -> MatmulRate:
    """Best-of-`reps` FLOP/s of an n x n x n matmul in dtype; n doubles from 256 until one product
    takes 50 ms or n reaches max_n (2048 on a CPU, 8192 on CUDA), so slow (emulated) precisions
    stay quick to measure."""
    limit = max_n or MAX_N.get(device.type, 2048)
    n = 256
    while True:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        torch.mm(a, b)
        _sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        once = time.perf_counter() - t0
        if once > 0.05 or n >= limit:
            break
        n *= 2
    best = once
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return {"n": n, "seconds": best, "tflops": 2 * n**3 / best / 1e12, "dtype": str(dtype).replace("torch.", "")}


def floor_ms(flops: float, tflops: float) -> float:
    """Milliseconds `flops` take at `tflops` (TFLOP/s)."""
    return flops / (tflops * 1e12) * 1e3
