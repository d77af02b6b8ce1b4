"""Backends (gun.runtime.backends): every runtime gives the labels torch gives, `auto` picks the fast
path for the device and precision, bad choices are one-line errors, `gun eval --backend` scores alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import calibrated_model, make_checkpoint

from gun.cli import main
from gun.experiments.export import smooth_frame
from gun.nn.checkpoint import load_model
from gun.nn.config import preset
from gun.nn.geometry import IDENTITY
from gun.nn.layers import channel_argmax
from gun.nn.model import GUN, GUNOutput, build_model
from gun.runtime.backends import BackendModel, create_backend, hardware, installed, resolve_backend, resolve_precision, supports
from gun.runtime.frames import Prepared, decode, padded_size, prepare, to_tensor
from tests.datasets import make_camvid

CPU = torch.device("cpu")


def calibrated(name: str, encoder: str, scales: tuple[float, ...], classes: int = 5, seed: int = 0,
               size: tuple[int, int] | None = None) -> GUN:
    """A random model whose labels vary over the frame and whose offsets are far from zero;
    BatchNorm calibrated at `size` (default: the smallest input the model takes)."""
    config = preset(name, encoder=encoder, num_classes=classes, scales=scales)
    k = build_model(config).input_multiple
    h, w = size or (k, 2 * k)
    return calibrated_model(config, seed, calibration=(2, h, w), offset_bias=None)


def labels(model: GUN, low: torch.Tensor, offsets: torch.Tensor | None, size: tuple[int, int], x: torch.Tensor) -> torch.Tensor:
    return channel_argmax(decode(model, GUNOutput(None, low, offsets), Prepared(x, size, IDENTITY)))


ARCHS = [("gun", "efficientnet_lite0", (1.0, 0.5)), ("gun", "drn_d_22", (0.5, 0.25)), ("bilinear", "efficientnet_lite0", (1.0, 1.0))]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{a[0]}-{a[1]}-{'-'.join(map(str, a[2]))}")
def test_every_backend_gives_torch_labels(arch: tuple[str, str, tuple[float, ...]]) -> None:
    name, encoder, scales = arch
    size = (90, 150)  # not a multiple: padded like a frame, decoded onto the frame's pixels
    padded = padded_size(*size, build_model(preset(name, encoder=encoder, num_classes=5, scales=scales)).input_multiple)
    # BatchNorm calibrated at the frame's size: at the smallest input DRN's quarter-scale branch sees
    # 1x2 maps, its logits reach 1e4 and float32 reassociation alone moves them by 0.05
    model = calibrated(*arch, size=padded)
    x = smooth_frame(padded)
    low, offsets = create_backend("torch", model, CPU, "float32").run(x)
    reference = labels(model, low, offsets, size, x)
    assert reference.unique().numel() > 1  # the test model predicts more than one class
    for name in ("onnxruntime", "openvino"):
        backend = create_backend(name, model, CPU, "float32")
        assert backend.name == name and backend.dtype == torch.float32
        got_low, got_offsets = backend.run(x)
        assert got_low.shape == low.shape and got_low.dtype == torch.float32
        torch.testing.assert_close(got_low, low, atol=1e-3, rtol=1e-3)
        if offsets is None:
            assert got_offsets is None
        else:
            torch.testing.assert_close(got_offsets, offsets, atol=1e-3, rtol=1e-3)
        assert (labels(model, got_low, got_offsets, size, x) == reference).float().mean() >= 0.999, name


def test_torch_options_keep_the_labels() -> None:
    model = calibrated("gun", "efficientnet_lite0", (1.0, 0.5))
    x = smooth_frame((128, 192))
    plain = create_backend("torch", model, CPU, "float32")
    fast = create_backend("torch", model, CPU, "float32", fold_bn=True, channels_last=True)
    assert fast.folded > 0 and fast.options["channels_last"]
    (a, oa), (b, ob) = plain.run(x), fast.run(x)
    torch.testing.assert_close(b, a, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(ob, oa, atol=1e-2, rtol=1e-2)


def test_auto_picks_by_device_and_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    fastest = "openvino" if installed("openvino") else "onnxruntime" if installed("onnxruntime") else "torch"
    assert resolve_backend("auto", CPU, torch.float32) == fastest
    assert resolve_backend("auto", CPU, torch.float16) == "torch"  # only torch runs fp16 on a CPU
    if installed("openvino"):
        assert resolve_backend("auto", CPU, torch.bfloat16) == "openvino"
    # auto precision: bf16 only where the CPU multiplies bf16 natively
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert resolve_precision("auto", CPU, "auto") == torch.float32
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert resolve_precision("auto", CPU, "auto") == torch.bfloat16
    assert resolve_precision("onnxruntime", CPU, "auto") == torch.float32  # what it can run
    assert resolve_precision("torch", torch.device("cuda"), "auto") == torch.float16


@pytest.mark.skipif(not installed("openvino"), reason="needs openvino")
def test_openvino_reports_the_precision_it_runs() -> None:
    """`dtype` is what OpenVINO compiled (bf16 only where its CPU plugin has native bf16); the shipped
    model's bf16 labels of a real frame are float32's but for a few boundary pixels."""
    import cv2
    import openvino as ov

    native = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    root = Path(__file__).resolve().parent.parent
    model, meta = load_model(root / "weights" / "gun_effnet_camvid.safetensors")
    rgb = cv2.cvtColor(cv2.imread(str(root / "assets" / "leuvenA.jpg")), cv2.COLOR_BGR2RGB)
    prep = prepare(to_tensor(rgb), meta.mean, meta.std, model.input_multiple, meta.input_size)
    got = {}
    for dtype in ("bfloat16", "float32"):
        backend = create_backend("openvino", model, CPU, dtype)
        low, offsets = backend.run(prep.x)
        got[dtype] = channel_argmax(decode(model, GUNOutput(None, low, offsets), prep))
        want = torch.bfloat16 if dtype == "bfloat16" and native else torch.float32
        assert backend.dtype == want, dtype
    assert (got["bfloat16"] == got["float32"]).float().mean() >= (0.97 if native else 0.999)


def test_bad_choices_are_one_line() -> None:
    model = calibrated("gun", "efficientnet_lite0", (1.0, 0.5))
    cases = {("tensorrt", CPU, "float32"): "unknown backend 'tensorrt'",
             ("onnxruntime", CPU, "bfloat16"): "onnxruntime runs float32",
             ("openvino", CPU, "float16"): "openvino on the CPU runs float32 or bfloat16",
             ("openvino", torch.device("cuda"), "float32"): "openvino runs on the CPU"}
    for (name, device, dtype), message in cases.items():
        with pytest.raises(ValueError, match=message) as info:
            create_backend(name, model, device, dtype)
        assert "\n" not in str(info.value)
    assert supports("torch", CPU, torch.float32) is None


def test_bench_and_eval_refuse_bad_backends_in_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "--preset", "gun", "--encoder", "efficientnet_lite0", "--size", "64x64", "--device", "cpu",
                 "--backend", "torch", "tensorrt"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown backend 'tensorrt'" in err and "openvino" in err
    assert main(["bench", "--preset", "gun", "--size", "64x64", "--device", "cpu", "--backend", "torch", "torch"]) == 2
    assert "twice" in capsys.readouterr().err


def test_eval_on_a_backend_scores_like_torch(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "m.safetensors")
    root = make_camvid(tmp_path / "camvid", splits=("val",), images=2, size=(96, 128))
    reports = {}
    for backend in (None, "openvino", "onnxruntime"):
        out = tmp_path / f"{backend}.json"
        extra = ["--backend", backend] if backend else []
        assert main(["eval", "--checkpoint", str(ckpt), "--dataset", "camvid", "--data-root", str(root), "--device", "cpu",
                     "--no-progress", "--json", str(out), *extra]) == 0
        reports[backend] = json.loads(out.read_text())
    assert reports["openvino"]["backend"] == "openvino" and reports[None]["backend"] == "torch"
    for backend in ("openvino", "onnxruntime"):
        assert reports[backend]["miou"] == pytest.approx(reports[None]["miou"], abs=2e-3)
        assert reports[backend]["decoders"]["bilinear"]["miou"] == pytest.approx(reports[None]["decoders"]["bilinear"]["miou"], abs=2e-3)


def test_backend_model_runs_the_network_only() -> None:
    model = calibrated("gun", "efficientnet_lite0", (1.0, 0.5))
    wrapped = BackendModel(create_backend("torch", model, CPU, "float32"), model)
    assert wrapped.input_multiple == model.input_multiple and wrapped.logits_grid == model.logits_grid
    out = wrapped(smooth_frame((64, 128)))
    assert out.logits is None and out.low_logits.shape[1] == 5 and out.offsets is not None
    with pytest.raises(ValueError, match="network only"):
        wrapped(smooth_frame((64, 128)), full=True)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max() / b.float().abs().max())


@pytest.mark.cuda
@cuda
def test_cuda_fast_path_matches_eager() -> None:
    """BN folded + channels-last + CUDA graphs give what eager autocast gives, in each precision; and
    fp16/bf16 stay close to fp32. (Random test networks amplify rounding, so precisions are compared
    on the logits with loose bounds: a broken path is off by 100%, not by a few percent.)"""
    # calibrated at the frame's size: at the smallest input the quarter-scale branch's BatchNorm
    # sees 1x2 maps, and activations reach 1e7, past float16's range (NaN on the H200, 2026-11-26)
    model = calibrated("gun", "drn_d_22", (0.5, 0.25), size=(256, 512))
    gpu = torch.device("cuda")
    x = smooth_frame((256, 512)).to(gpu)
    low32, _ = create_backend("torch", model, gpu, "float32").run(x)
    for dtype, bound in (("float32", 0.05), ("float16", 0.15), ("bfloat16", 0.5)):
        eager = create_backend("torch", model, gpu, dtype)
        fast = create_backend("auto", model, gpu, dtype, fold_bn=True, channels_last=True, cuda_graphs=True)
        assert fast.name == "torch" and fast.dtype == getattr(torch, dtype) and fast.folded > 0
        want_low, want_offsets = eager.run(x)
        for _ in range(3):  # capture, then replay (outputs are copies: they survive the next replay)
            got_low, got_offsets = fast.run(x)
        assert fast.options["cuda_graphs"], "the capture fell back to eager"
        assert relative_error(got_low, want_low) < bound / 2, dtype
        assert (labels(model, got_low, got_offsets, (256, 512), x) == labels(model, want_low, want_offsets, (256, 512), x)).float().mean() > 0.9
        assert relative_error(want_low, low32) < bound, dtype


def test_the_app_leaves_torch_a_core_short_but_openvino_every_core(monkeypatch) -> None:
    import os

    from gun.runtime import device

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(device, "_openvino_threads", None)
    assert device.openvino_threads() == before  # outside the app: the same count as torch (gun bench --threads)
    try:
        device.leave_a_core_free()
        cores = os.cpu_count() or 2
        assert torch.get_num_threads() == max(1, cores - 1)
        assert device.openvino_threads() == cores
    finally:
        torch.set_num_threads(before)
