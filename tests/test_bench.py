"""`gun bench`: the report's contents, the timing protocol, and the bilinear twin."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import torch
import torch.nn.functional as F

from gun.cli import main
from gun.data import labels
from gun.experiments.bench import summarise, time_alternating, without_guidance
from gun.nn.config import preset
from gun.nn.model import build_model
from tests.datasets import save_tiny_checkpoint

SMALL = ["--size", "64x96", "--warmup", "1", "--runs", "3"]
TINY = ["--preset", "gun", "--encoder", "efficientnet_lite0", "--classes", "11", "--scales", "1", "0.5"]


def test_bench_both_decoders(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    rc = main(["bench", *TINY, *SMALL, "--device", "cpu", "--dtype", "float32", "--decoder", "both", "--json", str(out),
               "--plot", str(png)])
    assert rc == 0
    assert "GUM / bilinear" in capsys.readouterr().out
    r = json.loads(out.read_text())
    for key in ("device", "dtype", "size", "gflops", "folded_bn", "threads", "gum", "bilinear", "ratio_gum_over_bilinear"):
        assert key in r, key
    assert r["size"] == [64, 96] and r["dtype"] == "float32" and r["folded_bn"] is False and r["threads"] >= 1
    assert r["device"] and r["runs"] == 3
    for d in ("gum", "bilinear"):
        t = r[d]
        assert 0 < t["ms_median"] <= t["ms_p90"] and t["fps"] == pytest.approx(1000 / t["ms_median"])
        assert len(t["ms_all"]) == 3
    assert r["ratio_gum_over_bilinear"] == pytest.approx(r["gum"]["ms_median"] / r["bilinear"]["ms_median"])
    # the guidance module costs FLOPs, so the model with it counts more than its bilinear twin
    assert r["gflops"] == r["gum"]["gflops"] > r["bilinear"]["gflops"] > 0
    assert cv2.imread(str(png)) is not None


def test_bench_folded_bf16_channels_last_nearest(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    rc = main(["bench", *TINY, *SMALL, "--device", "cpu", "--dtype", "bfloat16", "--fold-bn", "--channels-last",
               "--gum-mode", "nearest", "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["folded_bn"] is True and r["channels_last"] is True and r["dtype"] == "bfloat16"
    assert r["bn_layers_folded"]["gum"] > r["bn_layers_folded"]["bilinear"] > 0  # the twin has no guidance BNs
    assert "nearest" in r["gum"]["includes"]


def test_bench_from_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = save_tiny_checkpoint(tmp_path / "b.safetensors", labels.CAMVID_CLASSES, labels.CAMVID_PALETTE, "bilinear")
    out = tmp_path / "bench.json"
    assert main(["bench", "--checkpoint", str(ckpt), *SMALL, "--device", "cpu", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert "bilinear" in r and "gum" not in r and "ratio_gum_over_bilinear" not in r
    assert r["classes"] == 11 and r["preset"] == "bilinear" and r["checkpoint"] == str(ckpt)
    capsys.readouterr()
    # the architecture comes from the checkpoint: contradicting flags are refused, as is GUM without guidance
    assert main(["bench", "--checkpoint", str(ckpt), "--preset", "gun", *SMALL, "--device", "cpu"]) == 2
    assert "--preset" in capsys.readouterr().err
    assert main(["bench", "--checkpoint", str(ckpt), *SMALL, "--device", "cpu", "--decoder", "gum"]) == 2
    assert "guidance" in capsys.readouterr().err


def test_runners_alternate() -> None:
    calls: list[str] = []
    runners = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = time_alternating(runners, warmup=1, runs=4, device=torch.device("cpu"))  # type: ignore[arg-type]
    assert calls == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}


def test_summarise() -> None:
    s = summarise([4.0, 1.0, 3.0, 2.0, 10.0])
    assert s["ms_median"] == 3.0 and s["ms_min"] == 1.0 and s["fps"] == pytest.approx(1000 / 3)
    assert 4.0 < s["ms_p90"] <= 10.0


def test_bilinear_twin_is_the_same_network_without_guidance() -> None:
    torch.manual_seed(0)
    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=5, scales=(1.0, 0.5))).eval()
    torch.nn.init.normal_(model.guidance.head.weight, std=0.5)
    twin = without_guidance(model).eval()
    assert twin.guidance is None
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        out, plain = model(x), twin(x)
    torch.testing.assert_close(plain.low_logits, out.low_logits)
    torch.testing.assert_close(plain.logits, F.interpolate(out.low_logits, size=(64, 96), mode="bilinear", align_corners=False))
    assert not torch.allclose(out.logits, plain.logits)  # the GUM model really does something else


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bench_cuda(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", *TINY, *SMALL, "--device", "cuda", "--dtype", "float16", "--fold-bn", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["device_type"] == "cuda" and r["cudnn_benchmark"] is True and r["gum"]["ms_median"] > 0
