"""Eager PyTorch backend: the reference, and the fast path on CUDA.

Options, each as a deployment runtime would do it: `fold_bn` folds every BatchNorm into its
convolution (gun.nn.fold), `channels_last` runs convolutions in NHWC (cuDNN's and oneDNN's native
layout), `cuda_graphs` captures the forward once per input shape and replays it (no per-kernel
launch cost at batch 1), `compile` wraps the forward in torch.compile. bf16/fp16 run under autocast.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import Tensor

from gun.nn.fold import fold_batchnorm
from gun.nn.model import GUN

FOLD_EXAMPLE = (128, 128)  # input size of the one pass that finds the conv-BN pairs


class TorchBackend:
    name = "torch"

    def __init__(self, model: GUN, device: torch.device, dtype: torch.dtype = torch.float32, *, fold_bn: bool = False,
                 channels_last: bool = False, cuda_graphs: bool = False, compile: bool = False) -> None:
        if cuda_graphs and device.type != "cuda":
            raise ValueError("CUDA graphs need --device cuda")
        if dtype == torch.float16 and device.type == "cpu" and not _cpu_autocast_supports(torch.float16):
            raise ValueError("float16 is not supported on this CPU build of torch: use bfloat16 or float32")
        self.device, self.dtype = device, dtype
        self.options = {"fold_bn": fold_bn, "channels_last": channels_last, "cuda_graphs": cuda_graphs, "compile": compile}
        model = model.eval().to(device)
        self.folded = 0
        if fold_bn:
            side = max(FOLD_EXAMPLE[0], model.input_multiple)
            model, self.folded = fold_batchnorm(model, torch.randn(1, 3, side, side, device=device))
        if channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes memory_format; torch's overloads omit it
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # the fastest algorithm per shape, found on first use
        self.model = model
        self._forward = torch.compile(self._eager, dynamic=False) if compile else self._eager
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, Tensor, tuple[Tensor, Tensor | None]]] = {}

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        # no cast cache under CUDA graphs: a cached cast made during capture would outlive its memory
        return torch.autocast(self.device.type, dtype=self.dtype, cache_enabled=not self.options["cuda_graphs"])

    def _eager(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        with self._autocast():
            out = self.model(x, full=False)
        return out.low_logits.float(), (out.offsets.float() if out.offsets is not None else None)

    def _replay(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        key = tuple(x.shape)
        entry = self._graphs.get(key)
        if entry is None:
            try:
                entry = self._capture(x)
            except RuntimeError as error:  # a capture problem must not stop the frames: run eagerly from now on
                warnings.warn(f"CUDA graph capture failed, running eagerly: {str(error).splitlines()[0]}", stacklevel=2)
                self.options["cuda_graphs"] = False
                return self._forward(x)
        graph, static, (low, offsets) = entry
        static.copy_(x)
        graph.replay()
        # the graph's outputs are overwritten by the next replay: hand out copies
        return low.clone(), (offsets.clone() if offsets is not None else None)

    def _capture(self, x: Tensor) -> tuple[torch.cuda.CUDAGraph, Tensor, tuple[Tensor, Tensor | None]]:
        static = x.clone()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):  # warm up outside the graph (cuDNN autotuning, allocations)
            for _ in range(3):
                self._forward(static)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = self._forward(static)
        entry = self._graphs[tuple(x.shape)] = (graph, static, outputs)
        return entry

    @torch.inference_mode()
    def run(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        x = x.to(self.device, non_blocking=True)
        if self.options["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._replay(x) if self.options["cuda_graphs"] else self._forward(x)


def _cpu_autocast_supports(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            torch.nn.functional.conv2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 1, 1))
        return True
    except (RuntimeError, TypeError):
        return False
