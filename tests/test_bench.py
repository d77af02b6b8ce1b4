"""`gun bench`: the report's contents, the timing protocol, backends timed alternately, the roofline, the bilinear twin."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import torch

from gun.cli import main
from gun.experiments.bench import summarise, time_alternating, without_guidance
from gun.experiments.roofline import floor_ms, matmul_rate
from gun.nn.config import preset
from gun.nn.model import build_model
from tests.conftest import make_checkpoint

SMALL = ["--size", "64x96", "--warmup", "1", "--runs", "3"]
TINY = ["--preset", "gun", "--encoder", "efficientnet_lite0", "--classes", "11", "--scales", "1", "0.5"]


def test_bench_both_decoders(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    rc = main(["bench", *TINY, *SMALL, "--device", "cpu", "--dtype", "float32", "--decoder", "both", "--json", str(out),
               "--plot", str(png)])
    assert rc == 0
    assert "GUM / bilinear time (torch)" in capsys.readouterr().out
    r = json.loads(out.read_text())
    for key in ("device", "dtype", "size", "input_shape", "gflops", "folded_bn", "threads", "results", "ratio_gum_over_bilinear"):
        assert key in r, key
    assert r["size"] == [64, 96] and r["input_shape"] == [64, 128]  # padded to the input multiple (64)
    assert r["dtype"] == "float32" and r["folded_bn"] is False and r["threads"] >= 1 and r["device"] and r["runs"] == 3
    torch_rows = r["results"]["torch"]
    for d in ("gum", "bilinear"):
        t = torch_rows[d]
        assert 0 < t["ms_median"] <= t["ms_p90"] and t["fps"] == pytest.approx(1000 / t["ms_median"])
        assert len(t["ms_all"]) == 3 and t["dtype"] == "float32" and "floor_ms" not in t
    ratio = r["ratio_gum_over_bilinear"]["torch"]
    rounds = sorted(g / b for g, b in zip(torch_rows["gum"]["ms_all"], torch_rows["bilinear"]["ms_all"]))
    assert ratio == pytest.approx(rounds[1])  # the middle of 3 rounds' GUM/bilinear ratios
    # the guidance module costs FLOPs, so the model with it counts more than its bilinear twin
    assert r["gflops"] == torch_rows["gum"]["gflops"] > torch_rows["bilinear"]["gflops"] > 0
    assert cv2.imread(str(png)) is not None


def test_backends_alternate_in_one_run_with_a_roofline(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, md = tmp_path / "bench.json", tmp_path / "rows.md"
    assert main(["bench", *TINY, *SMALL, "--device", "cpu", "--backend", "torch", "onnxruntime", "openvino", "--roofline",
                 "--json", str(out), "--markdown", str(md)]) == 0
    assert "x floor" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert r["backends"] == ["torch", "onnxruntime", "openvino"] and set(r["results"]) == set(r["backends"])
    rate = r["roofline"]["float32"]
    assert rate["tflops"] > 0 and rate["n"] >= 256
    for per in r["results"].values():
        for row in per.values():
            assert len(row["ms_all"]) == 3 and row["dtype"] == "float32"
            assert row["floor_ms"] == pytest.approx(row["gflops"] * 1e9 / (rate["tflops"] * 1e12) * 1e3)
            assert row["multiple_of_floor"] == pytest.approx(row["ms_median"] / row["floor_ms"])
    rows = md.read_text().splitlines()
    assert len(rows) == 6 and all(line.startswith("| ") and line.count(" | ") == 9 for line in rows)


def test_size_sweep_plots_fps_against_size(tmp_path: Path) -> None:
    out, png = tmp_path / "sweep.json", tmp_path / "sweep.png"
    assert main(["bench", *TINY, "--size", "64x64", "128x128", "--warmup", "0", "--runs", "2", "--device", "cpu",
                 "--json", str(out), "--plot", str(png)]) == 0
    sweep = json.loads(out.read_text())["sweep"]
    assert [r["size"] for r in sweep] == [[64, 64], [128, 128]]
    assert sweep[1]["gflops"] == pytest.approx(4 * sweep[0]["gflops"], rel=0.05)
    assert cv2.imread(str(png)) is not None


def test_bench_folded_bf16_channels_last_nearest(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    rc = main(["bench", *TINY, *SMALL, "--device", "cpu", "--dtype", "bfloat16", "--fold-bn", "--channels-last",
               "--gum-mode", "nearest", "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    rows = r["results"]["torch"]
    assert r["folded_bn"] is True and r["channels_last"] is True and rows["gum"]["dtype"] == "bfloat16"
    assert rows["gum"]["bn_layers_folded"] > rows["bilinear"]["bn_layers_folded"] > 0  # the twin has no guidance BNs
    assert "nearest" in rows["gum"]["includes"]


def test_bench_from_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = make_checkpoint(tmp_path / "b.safetensors", guidance=False)
    out = tmp_path / "bench.json"
    assert main(["bench", "--checkpoint", str(ckpt), *SMALL, "--device", "cpu", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert set(r["results"]["torch"]) == {"bilinear"} and "ratio_gum_over_bilinear" not in r
    assert r["classes"] == 11 and r["preset"] == "bilinear" and r["checkpoint"] == str(ckpt)
    capsys.readouterr()
    # the architecture comes from the checkpoint: contradicting flags are refused, as is GUM without guidance
    assert main(["bench", "--checkpoint", str(ckpt), "--preset", "gun", *SMALL, "--device", "cpu"]) == 2
    assert "--preset" in capsys.readouterr().err
    assert main(["bench", "--checkpoint", str(ckpt), *SMALL, "--device", "cpu", "--decoder", "gum"]) == 2
    assert "guidance" in capsys.readouterr().err


def test_matmul_rate_and_floor() -> None:
    rate = matmul_rate(torch.device("cpu"), torch.float32, reps=2, max_n=256)
    assert rate["n"] == 256 and rate["tflops"] == pytest.approx(2 * 256**3 / rate["seconds"] / 1e12)
    assert floor_ms(2e9, 1.0) == pytest.approx(2.0)  # 2 GFLOP at 1 TFLOP/s


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


@pytest.mark.parametrize("pool", [1, 2])
def test_bilinear_twin_is_the_same_network_without_guidance(pool: int) -> None:
    torch.manual_seed(0)
    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=5, scales=(1.0, 0.5), guidance_pool=pool)).eval()
    head = [m for m in model.guidance.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.normal_(head.weight, std=0.5)
    twin = without_guidance(model).eval()
    assert twin.guidance is None
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        out, plain = model(x), twin(x)
    torch.testing.assert_close(plain.low_logits, out.low_logits)
    torch.testing.assert_close(plain.logits, model.decode(out.low_logits, None, (64, 128)))
    assert not torch.allclose(out.logits, plain.logits)  # the GUM model really does something else


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bench_cuda(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", *TINY, *SMALL, "--device", "cuda", "--dtype", "float16", "--fold-bn", "--channels-last", "--cuda-graphs",
                 "--roofline", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["device_type"] == "cuda" and r["cudnn_benchmark"] is True and r["cuda_graphs"] is True
    row = r["results"]["torch"]["gum"]
    assert row["ms_median"] > 0 and row["dtype"] == "float16" and r["roofline"]["float16"]["tflops"] > 1
