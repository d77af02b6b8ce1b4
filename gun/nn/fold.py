"""BatchNorm folding for inference: y = BN(conv(x)) becomes one conv with adjusted weight and bias.

In eval mode BatchNorm is the per-channel affine map gamma * (z - mean) / sqrt(var + eps) + beta,
so it can be absorbed into the convolution that produces z:
    W' = W * s,   b' = (b - mean) * s + beta,   s = gamma / sqrt(var + eps)
and the BatchNorm replaced by an identity. Deployment runtimes (TensorRT, ONNX Runtime) do this;
`gun bench --fold-bn` measures the network as such a runtime would run it.

Which conv feeds which BatchNorm is found from the data flow, not from module names: the model
runs once on a small input with forward hooks, and a BatchNorm2d is paired with the Conv2d whose
output tensor is exactly its input, consistently on every call (shared encoders run twice).
Folding assumes that conv output has no other consumer, which holds for every Conv-BN pair in
gun/ (conv_bn, DRN blocks, MBConv); the tests check the folded model's outputs.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import Tensor, nn

M = TypeVar("M", bound=nn.Module)


def conv_bn_pairs(model: nn.Module, example: Tensor) -> list[tuple[str, str]]:
    """(conv name, batchnorm name) for every BatchNorm2d that directly normalises a Conv2d's output."""
    names = {m: n for n, m in model.named_modules()}
    produced: dict[int, tuple[Tensor, str]] = {}  # id(conv output) -> (the tensor, kept alive; conv name)
    seen: dict[str, set[str | None]] = {}  # bn name -> conv names it was fed by

    def conv_hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        produced[id(output)] = (output, names[module])

    def bn_hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        hit = produced.get(id(inputs[0]))
        source = hit[1] if hit is not None and hit[0] is inputs[0] else None
        seen.setdefault(names[module], set()).add(source)

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.BatchNorm2d):
            handles.append(m.register_forward_hook(bn_hook))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    pairs = [(conv, bn) for bn, src in seen.items() if len(src) == 1 for conv in src if conv is not None]
    convs = [c for c, _ in pairs]
    # a conv feeding two BatchNorms cannot be folded into both
    return [(c, bn) for c, bn in pairs if convs.count(c) == 1]


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Absorb bn's eval-mode affine map into conv, in place (conv gains a bias if it had none)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm2d without running statistics (track_running_stats=False)")
    w = conv.weight
    scale = bn.running_var.float().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.float()
    shift = bn.bias.float() if bn.bias is not None else torch.zeros_like(scale)
    bias = conv.bias.float() if conv.bias is not None else torch.zeros_like(scale)
    conv.weight.copy_((w.float() * scale.view(-1, 1, 1, 1)).to(w.dtype))
    new_bias = ((bias - bn.running_mean.float()) * scale + shift).to(w.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias)
    else:
        conv.bias.copy_(new_bias)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)  # works for nn.Sequential / ModuleList children too ("0", "1", ...)


def fold_batchnorm(model: M, example: Tensor) -> tuple[M, int]:
    """A copy of model (put in eval mode) with every foldable BatchNorm2d folded into its conv and
    replaced by nn.Identity; returns (folded copy, number folded). `example`: a small input batch
    on the model's device, used once to find the pairs."""
    folded = copy.deepcopy(model).eval()
    count = 0
    for conv_name, bn_name in conv_bn_pairs(folded, example):
        conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
        if conv.out_channels != bn.num_features:
            continue
        fold_conv_bn(conv, bn)  # type: ignore[arg-type]
        _set_submodule(folded, bn_name, nn.Identity())
        count += 1
    return folded, count
