"""Device and precision names shared by the commands, the Segmenter and the app."""

from __future__ import annotations

import os

import cv2
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


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (for callers that must not import torch, e.g. the app)."""
    return torch.cuda.is_available()


_openvino_threads: int | None = None  # set by leave_a_core_free(); None: as many as torch


def leave_a_core_free() -> None:
    """Run torch on all cores but one, unless OMP_NUM_THREADS says otherwise; OpenVINO keeps them all.
    OpenCV runs on one thread: the app's helper threads (decoding, scoring) use the other core, and
    its parallel distance transforms took 12 ms of CPU where one thread took 8 (for 6.5 ms of wall
    time against 8.4, on 2 cores).

    Decoding and drawing run beside inference. When torch's threads want every core and another
    thread takes one, its OpenMP barriers wait for a descheduled thread: on 2 cores with other
    processes busy, a 768x576 frame took 2.8 s with 2 torch threads and 0.45 s with 1. OpenVINO's
    task scheduler does not stall so: in the app on 2 cores its inference took 284 ms on both
    cores and 372 ms on one (and torch's preprocessing 21 ms on two threads, 10 on one).
    """
    global _openvino_threads
    if "OMP_NUM_THREADS" not in os.environ:
        cores = os.cpu_count() or 2
        torch.set_num_threads(max(1, cores - 1))
        _openvino_threads = cores
    cv2.setNumThreads(1)


def openvino_threads() -> int:
    """Inference threads for OpenVINO: every core after leave_a_core_free(), else torch's count
    (so `gun bench --threads N` gives every runtime the same)."""
    return _openvino_threads or torch.get_num_threads()
