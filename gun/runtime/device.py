"""Device and precision names shared by the commands, the Segmenter and the app."""

from __future__ import annotations

import torch

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu; fails with a message when cuda is asked for and absent."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device) not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"unsupported device {device}: choose auto, cpu or cuda")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but torch sees no CUDA GPU: use --device cpu "
                           "(or install a CUDA build of torch on a machine with an NVIDIA GPU)")
    return device


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown precision {dtype!r}: choose one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def autocast_dtype(dtype: str | torch.dtype) -> torch.dtype | None:
    """The autocast dtype for a precision name: None for float32 (no autocast)."""
    d = resolve_dtype(dtype)
    return None if d == torch.float32 else d
