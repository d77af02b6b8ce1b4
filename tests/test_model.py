"""Every preset with either encoder: forward, backward, shapes, and the identity start."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gun.nn.config import ENCODERS, PRESETS, GUNConfig, preset
from gun.nn.model import build_model

SIZE = (64, 96)


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("name", list(PRESETS))
def test_forward_backward(name: str, encoder: str) -> None:
    torch.manual_seed(0)
    model = build_model(preset(name, encoder=encoder, num_classes=5))
    x = torch.randn(2, 3, *SIZE)
    out = model(x)
    assert out.logits.shape == (2, 5, *SIZE)
    assert out.low_logits.shape[:2] == (2, 5)
    assert (out.offsets is None) == (PRESETS[name].guidance is None)
    if out.offsets is not None:
        assert out.offsets.shape == (2, 2, *SIZE)
    out.logits.square().mean().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    # the zero-initialised offset head passes no gradient to the guidance layers below it at step 0
    assert all(".head." in n or n.startswith("guidance.") for n in unused), unused


@pytest.mark.parametrize("guidance", ["high-res", "large-rf", "fusion"])
def test_guidance_starts_as_bilinear_upsampling(guidance: str) -> None:
    model = build_model(preset(guidance, encoder="efficientnet_lite0", num_classes=4)).eval()
    out = model(torch.randn(1, 3, *SIZE))
    assert torch.count_nonzero(out.offsets) == 0
    expected = F.interpolate(out.low_logits, size=SIZE, mode="bilinear", align_corners=False)
    torch.testing.assert_close(out.logits, expected, rtol=0, atol=1e-5)


def test_offsets_are_bounded() -> None:
    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=3, offset_bound=1.5)).eval()
    with torch.no_grad():
        model.guidance.head.bias.fill_(100.0)  # saturate the tanh
    out = model(torch.randn(1, 3, *SIZE))
    assert out.offsets.abs().max() <= 1.5 + 1e-6
    assert out.offsets.abs().max() > 1.49


def test_full_false_skips_logits_and_decode_matches() -> None:
    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=3)).eval()
    with torch.no_grad():
        model.guidance.head.bias.copy_(torch.tensor([0.3, -0.2]))
        x = torch.randn(1, 3, *SIZE)
        full, fast = model(x), model(x, full=False)
    assert fast.logits is None
    torch.testing.assert_close(model.decode(fast.low_logits, fast.offsets, SIZE), full.logits)


def test_shared_branches_share_weights_and_unshared_do_not() -> None:
    shared = build_model(preset("enc24shared", encoder="drn_d_22"))
    separate = build_model(preset("enc24", encoder="drn_d_22"))
    assert len(shared.encoders) == 1 and len(separate.encoders) == 2
    # the medium-only encoder keeps no layer it never runs
    assert not hasattr(separate.encoders[0], "layer5")


def test_same_scale_shared_branches_run_the_trunk_once() -> None:
    model = build_model(preset("gun", encoder="efficientnet_lite0", scales=(1.0, 1.0))).eval()
    calls = []
    model.encoders[0]._conv_stem.register_forward_hook(lambda *a: calls.append(1))
    model(torch.randn(1, 3, *SIZE))
    assert len(calls) == 1


@pytest.mark.parametrize("bad", [dict(encoder="resnet"), dict(scales=()), dict(scales=(0.25, 0.5)),
                                 dict(fusion="max"), dict(guidance="magic"), dict(scales=(1.0,), guidance="fusion"),
                                 dict(num_classes=0)])
def test_invalid_configs_say_why(bad: dict) -> None:
    with pytest.raises(ValueError):
        GUNConfig(**bad)


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        preset("enc8")
