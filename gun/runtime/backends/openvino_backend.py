"""OpenVINO backend: the network's ONNX graph compiled for the CPU, float32 or bf16.

bf16 is asked for through OpenVINO's INFERENCE_PRECISION_HINT; `dtype` reports what the compiled
model really runs in (OpenVINO ignores the hint on a CPU without native bf16).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gun.nn.model import GUN
from gun.runtime.backends.onnx_export import MAX_SHAPES, cached_onnx
from gun.runtime.device import openvino_threads

_HINTS = {torch.float32: "f32", torch.bfloat16: "bf16"}


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, model: GUN, dtype: torch.dtype) -> None:
        import openvino as ov

        if dtype not in _HINTS:
            raise ValueError(f"openvino on the CPU runs float32 or bfloat16, not {dtype}")
        self._core = ov.Core()
        self.model = model
        self.device = torch.device("cpu")
        self.requested = dtype
        self.dtype = dtype
        self._compiled: dict[tuple[int, int], object] = {}

    def _compile(self, shape: tuple[int, int]):  # -> ov.CompiledModel
        compiled = self._compiled.get(shape)
        if compiled is None:
            graph = self._core.read_model(cached_onnx(self.model, shape))
            config = {"INFERENCE_PRECISION_HINT": _HINTS[self.requested], "PERFORMANCE_HINT": "LATENCY",
                      "INFERENCE_NUM_THREADS": openvino_threads()}
            compiled = self._core.compile_model(graph, "CPU", config)
            # an ov.Type: str() gives "<Type: 'bfloat16'>", its name "bf16"
            actual = str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
            self.dtype = torch.bfloat16 if actual == "bf16" else torch.float32
            if len(self._compiled) >= MAX_SHAPES:  # frames at their own sizes: keep the latest few
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[shape] = compiled
        return compiled

    def run(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        compiled = self._compile((int(x.shape[-2]), int(x.shape[-1])))
        outs = compiled(x.detach().float().contiguous().numpy())  # a fresh infer request's results
        values = [outs[compiled.output(i)] for i in range(len(compiled.outputs))]
        low = torch.from_numpy(values[0].copy())
        return low, (torch.from_numpy(values[1].copy()) if len(values) > 1 else None)

    def warm(self, shape: tuple[int, int]) -> None:
        """Compile for an input shape now (so `dtype` is known before the first frame)."""
        self._compile(shape)
