"""The network as an ONNX graph (opset 17 or later), for the ONNX-based backends and `gun export`.

Two heads:
- "network": input x (1, 3, Hp, Wp) normalised -> low_logits (1, C, h, w) [, offsets (1, 2, h', w')]:
  what the backends run (decoding stays in torch, gun.runtime.frames.decode).
- "labels": input x -> labels (1, Hp, Wp) int64: the whole model with the GUM (GridSample) or
  bilinear decoding at the input's size and the argmax, for deployment outside this package.

The graph has a fixed input shape: multi-scale branches are made with
F.interpolate(scale_factor=...) (gun.nn.geometry.scale_input), which exports as one Resize, and
every resampling grid of a fixed shape is a constant. Exported with torch's TorchScript-based
exporter (dynamo=False): seconds instead of the dynamo exporter's tens of seconds, same graph here.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections import OrderedDict
from typing import Literal

import torch
from torch import Tensor, nn

from gun.nn.model import GUN

Head = Literal["network", "labels"]
HEADS: tuple[str, ...] = ("network", "labels")
OPSET = 17  # GridSample needs 16; 17 is what ONNX Runtime and OpenVINO both run fully
_CACHE: OrderedDict[tuple, bytes] = OrderedDict()
_CACHE_SIZE = 8
MAX_SHAPES = 4  # compiled input shapes a backend keeps


class NetworkGraph(nn.Module):
    def __init__(self, model: GUN) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        out = self.model(x, full=False)
        return (out.low_logits,) if out.offsets is None else (out.low_logits, out.offsets)


class LabelsGraph(nn.Module):
    def __init__(self, model: GUN) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, full=True).logits.argmax(1)


def output_names(model: GUN, head: Head) -> list[str]:
    if head == "labels":
        return ["labels"]
    return ["low_logits"] if model.guidance is None else ["low_logits", "offsets"]


def fingerprint(model: nn.Module) -> str:
    """A digest of the model's weights and buffers (the in-memory export cache's key)."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def export_onnx(model: GUN, shape: tuple[int, int], head: Head = "network", opset: int = OPSET) -> bytes:
    """The ONNX graph (serialised) of `model` for float32 input (1, 3, *shape), on the CPU."""
    if head not in HEADS:
        raise ValueError(f"unknown ONNX head {head!r}: choose one of {', '.join(HEADS)}")
    if opset < 17:
        raise ValueError(f"--opset {opset}: the GUM's GridSample needs opset 17 or later here")
    m = shape[0] % model.input_multiple or shape[1] % model.input_multiple
    if m:
        raise ValueError(f"ONNX input {shape[0]}x{shape[1]} must have sides divisible by {model.input_multiple}")
    device = next(model.parameters()).device
    training = model.training
    graph = (NetworkGraph(model) if head == "network" else LabelsGraph(model)).eval()  # eval() reaches the model too
    buffer = io.BytesIO()
    try:
        graph.cpu()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(graph, (torch.zeros(1, 3, *shape),), buffer, opset_version=opset, dynamo=False,  # type: ignore[arg-type]  # f takes a file object too
                              input_names=["x"], output_names=output_names(model, head), do_constant_folding=True)
    finally:
        model.to(device).train(training)  # the exporter restores the wrapper's mode: put the model's back
    return buffer.getvalue()


def cached_onnx(model: GUN, shape: tuple[int, int], head: Head = "network", opset: int = OPSET) -> bytes:
    """export_onnx, remembered per (weights, shape, head, opset) for this process: switching
    backends or reopening a model does not export again."""
    key = (fingerprint(model), repr(model.config), tuple(shape), head, opset)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    data = export_onnx(model, shape, head, opset)
    _CACHE[key] = data
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return data
