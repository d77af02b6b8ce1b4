"""Backends: who runs the network's forward pass. One interface, several runtimes.

    backend = create_backend("auto", model, torch.device("cpu"), "auto")
    low_logits, offsets = backend.run(x)       # x: (1, 3, Hp, Wp) normalised float32 on backend.device

A backend runs only the network (encoder, fusion, classifier, guidance module) and returns the
low-resolution logits and the offsets on their own grids (gun.nn.model.GUN.logits_grid /
offsets_grid) as float32 torch tensors on backend.device; decoding (GUM, bilinear) stays in torch
(gun.runtime.frames.decode), so every backend decodes exactly alike.

- torch: eager PyTorch (autocast for bf16/fp16; optional BN folding, channels-last, CUDA graphs,
  torch.compile). The reference, and the fast path on CUDA.
- onnxruntime: the network exported to ONNX (opset 17) and run by ONNX Runtime (float32; on CUDA
  with the TensorRT or CUDA execution provider when onnxruntime-gpu is installed).
- openvino: the same ONNX graph compiled by OpenVINO for the CPU (float32, or bf16 where the CPU
  multiplies bf16 natively). The fastest CPU runtime measured (issue 9).
- auto: the fastest one installed that runs on the device in the precision asked for.

ONNX-based backends export once per input shape (frames are resized to the checkpoint's input
size, so that is once per aspect ratio), in memory.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from gun.nn.model import GUN, GUNOutput
from gun.runtime.backends.hardware import auto_dtype
from gun.runtime.device import resolve_dtype

BACKENDS: tuple[str, ...] = ("torch", "onnxruntime", "openvino")
CHOICES: tuple[str, ...] = ("auto", *BACKENDS)
_MODULES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
# the order `auto` tries them in, per device: fastest first (issue 9's measurements on a CPU;
# on CUDA eager torch with fp16 autocast, channels-last and CUDA graphs)
_PREFERENCE = {"cpu": ("openvino", "onnxruntime", "torch"), "cuda": ("torch",)}


@runtime_checkable
class Backend(Protocol):
    name: str  # one of BACKENDS
    device: torch.device  # where run() takes its input and leaves its outputs
    dtype: torch.dtype  # the precision the network really runs in

    def run(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """(low_logits (1, C, h, w), offsets (1, 2, h', w') or None), float32 on self.device."""
        ...


def installed(name: str) -> bool:
    return importlib.util.find_spec(_MODULES[name]) is not None


def supports(name: str, device: torch.device, dtype: torch.dtype) -> str | None:
    """None when backend `name` can run on device in dtype, else why not (one line, with what to do)."""
    if name not in BACKENDS:
        return f"unknown backend {name!r}: choose one of {', '.join(CHOICES)}"
    if not installed(name):
        return f"backend {name} is not installed: pip install {name} (or choose another --backend)"
    if name == "openvino":
        if device.type != "cpu":
            return "openvino runs on the CPU here: use --device cpu, or --backend torch on CUDA"
        if dtype == torch.float16:
            return "openvino on the CPU runs float32 or bfloat16: use --dtype float32 or bfloat16"
    if name == "onnxruntime":
        if dtype != torch.float32:
            return f"onnxruntime runs float32 here, not {str(dtype).replace('torch.', '')}: use --dtype float32, or another --backend"
        if device.type == "cuda":
            from gun.runtime.backends.onnxruntime_backend import cuda_providers

            if not cuda_providers():
                return "this onnxruntime has no CUDA provider: pip install onnxruntime-gpu, or use --backend torch on CUDA"
    return None


def resolve_precision(name: str, device: torch.device, dtype: str | torch.dtype) -> torch.dtype:
    """dtype, with "auto" made concrete for the device (gun.runtime.backends.hardware.auto_dtype);
    a backend that cannot run that precision gets float32 instead when the choice was "auto"."""
    if str(dtype) != "auto":
        return resolve_dtype(dtype)
    chosen = auto_dtype(device)
    return chosen if name == "auto" or supports(name, device, chosen) is None else torch.float32


def resolve_backend(name: str, device: torch.device, dtype: torch.dtype) -> str:
    """The concrete backend for a name ("auto" = the first of _PREFERENCE that can run it)."""
    if name == "auto":
        for candidate in _PREFERENCE.get(device.type, ("torch",)):
            if supports(candidate, device, dtype) is None:
                return candidate
        return "torch"
    problem = supports(name, device, dtype)
    if problem is not None:
        raise ValueError(problem)
    return name


def check_names(names: list[str] | tuple[str, ...]) -> None:
    """One-line error for an unknown or repeated backend name (command-line validation)."""
    for n in names:
        if n not in CHOICES:
            raise ValueError(f"unknown backend {n!r}: choose from {', '.join(CHOICES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"--backend names a backend twice: {' '.join(names)}")


def create_backend(name: str, model: GUN, device: torch.device, dtype: str | torch.dtype = "auto", *,
                   fold_bn: bool = False, channels_last: bool | None = None, cuda_graphs: bool = False,
                   compile: bool = False) -> Backend:
    """A backend running `model` (in eval mode) on device. The torch-only options: fold_bn, channels_last
    (None = on for CUDA), cuda_graphs, compile. Raises ValueError (one line) when it cannot run."""
    precision = resolve_precision(name, device, dtype)
    concrete = resolve_backend(name, device, precision)
    model = model.eval()
    if concrete == "torch":
        from gun.runtime.backends.torch_backend import TorchBackend

        cl = device.type == "cuda" if channels_last is None else channels_last
        return TorchBackend(model, device, precision, fold_bn=fold_bn, channels_last=cl, cuda_graphs=cuda_graphs, compile=compile)
    if concrete == "onnxruntime":
        from gun.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model, device)
    from gun.runtime.backends.openvino_backend import OpenVinoBackend

    return OpenVinoBackend(model, precision)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


class BackendModel:
    """A GUN whose forward pass runs on a backend, for code written against GUN (evaluation, TTA):
    `m(x, full=False)` -> GUNOutput(None, low_logits, offsets); every other attribute (grids,
    decode, mean, std, input_multiple) is the model's own."""

    def __init__(self, backend: Backend, model: GUN) -> None:
        self.backend, self.model = backend, model

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)

    def eval(self) -> BackendModel:
        return self

    def __call__(self, x: Tensor, full: bool = False) -> GUNOutput:
        if full:
            raise ValueError("a backend runs the network only (full=False); decode with gun.runtime.frames.decode")
        low, offsets = self.backend.run(x)
        return GUNOutput(None, low.to(x.device), offsets.to(x.device) if offsets is not None else None)
