"""BatchNorm folding: a folded model computes what the original computes, with no BatchNorm left."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gun.nn.config import ENCODERS, preset
from gun.nn.fold import fold_batchnorm, fold_conv_bn
from gun.nn.model import build_model

SIZE = (64, 128)  # sides: multiples of the models' input_multiple (64)


def randomise_batchnorm(model: nn.Module) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters (fresh ones are ~identity)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize(("name", "scales"), [("gun", (1.0, 0.5)), ("enc24", (1.0, 0.5)), ("baseline", (0.5,))])
def test_folded_model_matches(encoder: str, name: str, scales: tuple[float, ...]) -> None:
    torch.manual_seed(0)
    model = build_model(preset(name, encoder=encoder, num_classes=5, scales=scales)).eval()
    randomise_batchnorm(model)
    if model.guidance is not None:
        nn.init.normal_(model.guidance.head.conv.weight, std=0.1)  # non-zero offsets
    x = torch.randn(1, 3, *SIZE)
    folded, count = fold_batchnorm(model, x)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert count == n_bn and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x2 = torch.randn(1, 3, 128, 192)  # pairs found at one size hold at any
    with torch.no_grad():
        ref, out = model(x2), folded(x2)
    scale = ref.logits.abs().max()
    torch.testing.assert_close(out.logits, ref.logits, rtol=0, atol=1e-4 * float(scale))
    if ref.offsets is not None:
        assert ref.offsets.abs().max() > 1e-3
        torch.testing.assert_close(out.offsets, ref.offsets, rtol=0, atol=1e-4)


def test_fold_one_pair_by_hand() -> None:
    conv = nn.Conv2d(2, 3, 1, bias=True)
    bn = nn.BatchNorm2d(3, eps=0.0)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]).view(3, 2, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
        bn.running_mean.copy_(torch.tensor([1.0, 0.0, 2.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
        bn.weight.copy_(torch.tensor([2.0, 1.0, 1.0]))
        bn.bias.copy_(torch.tensor([0.0, 0.5, 0.0]))
    fold_conv_bn(conv, bn)
    # scale = gamma / sqrt(var): 1, 1, 2; bias' = (b - mean) * scale + beta
    assert conv.weight.view(3, 2).tolist() == [[1.0, 0.0], [0.0, 2.0], [2.0, 2.0]]
    assert conv.bias.tolist() == [-1.0, 1.5, -6.0]


def test_batchnorm_without_a_conv_before_it_stays() -> None:
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)).eval()
    randomise_batchnorm(model)
    x = torch.randn(2, 3, 8, 8)
    folded, count = fold_batchnorm(model, x)
    assert count == 1
    assert isinstance(folded[0], nn.BatchNorm2d) and isinstance(folded[2], nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
