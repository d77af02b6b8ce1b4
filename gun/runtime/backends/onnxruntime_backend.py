"""ONNX Runtime backend: the network's ONNX graph run by an InferenceSession (float32)."""

from __future__ import annotations

import torch
from torch import Tensor

from gun.nn.model import GUN
from gun.runtime.backends.onnx_export import MAX_SHAPES, cached_onnx

_CUDA_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def cuda_providers() -> list[str]:
    """The GPU execution providers this onnxruntime has, TensorRT first (empty for the CPU wheel)."""
    import onnxruntime as ort

    return [p for p in _CUDA_PROVIDERS if p in ort.get_available_providers()]


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, model: GUN, device: torch.device) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.model = model
        self.device = device
        self.dtype = torch.float32
        self.providers = [*cuda_providers(), "CPUExecutionProvider"] if device.type == "cuda" else ["CPUExecutionProvider"]
        self._sessions: dict[tuple[int, int], object] = {}

    def _session(self, shape: tuple[int, int]):  # -> ort.InferenceSession
        session = self._sessions.get(shape)
        if session is None:
            opts = self._ort.SessionOptions()
            opts.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.intra_op_num_threads = torch.get_num_threads()  # the same cores torch would use
            opts.log_severity_level = 3
            session = self._ort.InferenceSession(cached_onnx(self.model, shape), opts, providers=self.providers)
            if len(self._sessions) >= MAX_SHAPES:  # frames at their own sizes: keep the latest few
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[shape] = session
        return session

    def run(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        session = self._session((int(x.shape[-2]), int(x.shape[-1])))
        outs = session.run(None, {"x": x.detach().float().cpu().contiguous().numpy()})
        low = torch.from_numpy(outs[0]).to(self.device)
        offsets = torch.from_numpy(outs[1]).to(self.device) if len(outs) > 1 else None
        return low, offsets
