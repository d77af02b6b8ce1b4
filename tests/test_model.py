"""Every preset with either encoder: forward, backward, shapes, and the identity start."""

from __future__ import annotations

import pytest
import torch

from gun.nn.config import ENCODERS, PRESETS, GUNConfig, preset
from gun.nn.model import build_model

SIZE = (64, 96)


def bilinear_at(low: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """low (N, C, h, w) read at every (ys[i], xs[j]) in cell units, border-clamped: eq. 4 by index arithmetic."""
    h, w = low.shape[-2:]
    ys, xs = ys.clamp(0, h - 1).double(), xs.clamp(0, w - 1).double()
    y0, x0 = ys.floor().long(), xs.floor().long()
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    low = low.double()

    def at(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return low[..., yi, :][..., xi]

    return (at(y0, x0) * (1 - fy) * (1 - fx) + at(y0, x1) * (1 - fy) * fx + at(y1, x0) * fy * (1 - fx) + at(y1, x1) * fy * fx).float()


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("name", list(PRESETS))
def test_forward_backward(name: str, encoder: str) -> None:
    torch.manual_seed(0)
    model = build_model(preset(name, encoder=encoder, num_classes=5))
    m = model.input_multiple
    size = (-(-SIZE[0] // m) * m, -(-SIZE[1] // m) * m)
    x = torch.randn(2, 3, *size)
    out = model(x)
    assert out.logits.shape == (2, 5, *size)
    assert out.low_logits.shape[:2] == (2, 5)
    assert (out.offsets is None) == (PRESETS[name].guidance is None)
    if out.offsets is not None:
        assert model.upsample_offsets(out.offsets, size).shape == (2, 2, *size)
    out.logits.square().mean().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    # the zero-initialised offset head passes no gradient to the guidance layers below it at step 0
    assert all(".head." in n or n.startswith("guidance.") for n in unused), unused


@pytest.mark.parametrize("guidance", ["high-res", "large-rf", "fusion"])
def test_guidance_starts_as_bilinear_upsampling(guidance: str) -> None:
    # scales 1 + 1: the logits are stride-8 cells of the input, cell i centred on pixel 8 i
    model = build_model(preset(guidance, encoder="efficientnet_lite0", num_classes=4, scales=(1.0, 1.0))).eval()
    out = model(torch.randn(1, 3, *SIZE))
    assert torch.count_nonzero(out.offsets) == 0
    expected = bilinear_at(out.low_logits, torch.arange(SIZE[0]) / 8, torch.arange(SIZE[1]) / 8)
    torch.testing.assert_close(out.logits, expected, rtol=0, atol=1e-5)


def test_offsets_are_bounded() -> None:
    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=3, offset_bound=1.5, scales=(1.0, 1.0))).eval()
    with torch.no_grad():
        model.guidance.head.conv.bias.fill_(100.0)  # saturate the tanh
    out = model(torch.randn(1, 3, *SIZE))
    assert out.offsets.abs().max() <= 1.5 + 1e-6
    assert out.offsets.abs().max() > 1.49


def test_full_false_skips_logits_and_decode_matches() -> None:
    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=3, scales=(1.0, 1.0))).eval()
    with torch.no_grad():
        model.guidance.head.conv.bias.copy_(torch.tensor([0.3, -0.2]))
        x = torch.randn(1, 3, *SIZE)
        full, fast = model(x), model(x, full=False)
    assert fast.logits is None
    offsets = model.upsample_offsets(fast.offsets, SIZE)
    torch.testing.assert_close(offsets, torch.tensor([0.3, -0.2]).tanh().mul(2.0).view(1, 2, 1, 1).expand(1, 2, *SIZE))
    torch.testing.assert_close(model.decode(fast.low_logits, offsets, SIZE), full.logits)
    # the offsets steer the same regular grid: x + 0.58 and y - 0.39 low-resolution pixels
    p, q = (2 * torch.tanh(torch.tensor(v)) for v in (0.3, -0.2))
    expected = bilinear_at(fast.low_logits, torch.arange(SIZE[0]) / 8 + q, torch.arange(SIZE[1]) / 8 + p)
    torch.testing.assert_close(full.logits, expected, rtol=0, atol=1e-5)


def test_shared_branches_share_weights_and_unshared_do_not() -> None:
    shared = build_model(preset("enc24shared", encoder="drn_d_22"))
    separate = build_model(preset("enc24", encoder="drn_d_22"))
    assert len(shared.encoders) == 1 and len(separate.encoders) == 2
    # the medium-only encoder keeps no layer it never runs
    assert not hasattr(separate.encoders[0], "layer5")


def test_same_scale_shared_branches_run_the_trunk_once() -> None:
    model = build_model(preset("gun", encoder="efficientnet_lite0", scales=(1.0, 1.0))).eval()
    calls: list[int] = []
    model.encoders[0]._conv_stem.register_forward_hook(lambda *a: calls.append(1))
    model(torch.randn(1, 3, *SIZE))
    assert len(calls) == 1


@pytest.mark.parametrize("bad", [{"encoder": "resnet"}, {"scales": ()}, {"scales": (0.25, 0.5)},
                                 {"fusion": "max"}, {"guidance": "magic"}, {"scales": (1.0,), "guidance": "fusion"},
                                 {"num_classes": 0}])
def test_invalid_configs_say_why(bad: dict) -> None:
    with pytest.raises(ValueError):
        GUNConfig(**bad)


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        preset("enc8")
