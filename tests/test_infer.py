"""Segmenter (one encoder pass through a backend, two decoders, padding, timings), export and `gun annotate`."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import CLASS_NAMES, synthetic_frame, write_video

from gun.io.video import open_source
from gun.nn.checkpoint import CheckpointError
from gun.nn.geometry import Grid
from gun.nn.gum import guided_upsample_labels
from gun.render.annotate import VIEWS
from gun.runtime.backends import installed
from gun.runtime.backends.hardware import cpu_has_native_bf16
from gun.runtime.clip import export_video
from gun.runtime.device import resolve_device
from gun.runtime.frames import padded_size
from gun.runtime.segmenter import Segmenter

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _model_logits(seg: Segmenter, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The model's own full-resolution decoding of the padded frame, for comparison."""
    H, W = image.shape[:2]
    Hp, Wp = padded_size(H, W, seg.model.input_multiple)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    mean, std = torch.tensor(seg.meta.mean).view(1, 3, 1, 1), torch.tensor(seg.meta.std).view(1, 3, 1, 1)
    x = F.pad((x - mean) / std, (0, Wp - W, 0, Hp - H), mode="replicate")
    model = seg.model.cpu()
    with torch.inference_mode():
        out = model(x)
        offsets = model.upsample_offsets(out.offsets, (Hp, Wp))  # at every pixel of the padded input
    return out.logits, out.low_logits, offsets


@pytest.mark.parametrize("size", [(96, 128), (75, 101)])
def test_result_maps_are_at_frame_size_and_match_the_model(segmenter: Segmenter, size: tuple[int, int]) -> None:
    image = synthetic_frame(3, size)
    segmenter = Segmenter(segmenter.model, segmenter.meta, "cpu", "float32")  # compared with float32 torch below
    result = segmenter(image)
    H, W = size
    assert result.labels_gum.shape == result.labels_bilinear.shape == (H, W)
    assert result.labels_gum.dtype == result.labels_bilinear.dtype == np.uint8
    assert result.offsets.shape == (2, H, W) and result.offsets.dtype == np.float32
    assert set(result.timings) == {"preprocess", "inference", "upsampling"}
    assert all(v >= 0 for v in result.timings.values())
    logits, low, offsets = _model_logits(segmenter, image)
    # GUM labels are the model's own (GUM-decoded) logits' argmax, cropped back from the padding
    # (up to float rounding: the Segmenter folds the /255 into its normalisation)
    assert (result.labels_gum == logits.argmax(1)[0, :H, :W].numpy()).mean() > 0.995
    bilinear = segmenter.model.decode(low, None, tuple(logits.shape[-2:]))  # the model's bilinear decoding of the padded input
    assert (result.labels_bilinear == bilinear.argmax(1)[0, :H, :W].numpy()).mean() > 0.995
    assert np.allclose(result.offsets, offsets[0, :, :H, :W].numpy(), atol=1e-3)
    assert result.low_logits.shape == tuple(low.shape[1:])
    Hp, Wp = padded_size(H, W, segmenter.model.input_multiple)
    assert result.px_per_low_px == (Wp / low.shape[-1], Hp / low.shape[-2])  # stride-aligned: the cells tile the input
    # the test checkpoint's guidance is strong enough that the two decoders disagree somewhere
    assert (result.labels_gum != result.labels_bilinear).any()


def test_decoding_on_the_helper_thread_changes_nothing(segmenter: Segmenter, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a core to spare (one torch thread) the bilinear labels decode on the Segmenter's helper
    thread, or without them (bilinear=False) the GUM's top rows do; with every core in torch's team
    everything decodes in line. The maps are the same, and the two halves (infer, then decode)
    are the whole call."""
    image = synthetic_frame(5, (75, 101))
    seg = Segmenter(segmenter.model, segmenter.meta, "cpu", "float32")
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        inline = seg(image)
        assert seg._helper is None  # no core to spare: nothing started
        torch.set_num_threads(1)
        beside = seg.decode(seg.infer(image))
        assert seg._helper is not None
        gum_only = seg.decode(seg.infer(image), bilinear=False)  # 75 rows: 37 on the helper, 38 here
        one_row = seg.decode(seg.infer(image[:1]), bilinear=False)
    finally:
        torch.set_num_threads(threads)
    for name in ("labels_gum", "labels_bilinear", "offsets", "low_logits"):
        np.testing.assert_array_equal(getattr(beside, name), getattr(inline, name))
    assert gum_only.labels_bilinear is None and one_row.labels_bilinear is None
    np.testing.assert_array_equal(gum_only.labels_gum, inline.labels_gum)
    np.testing.assert_array_equal(one_row.labels_gum, seg(image[:1]).labels_gum)
    assert one_row.labels_gum.shape == (1, 101)
    assert set(beside.timings) == {"preprocess", "inference", "upsampling"}


def test_probabilities_and_pixel_probe_agree_with_labels(segmenter: Segmenter) -> None:
    result = segmenter(synthetic_frame(1), probabilities=True)
    probs = result.probabilities
    assert probs.shape == (len(CLASS_NAMES), 96, 128)
    assert np.allclose(probs.sum(0), 1, atol=1e-4)
    assert np.array_equal(probs.argmax(0), result.labels_gum)
    for x, y in ((0, 0), (127, 95), (40, 61), (77, 13)):
        probe = result.probe(x, y)
        assert np.allclose(probe.probabilities_gum, probs[:, y, x], atol=1e-5)
        assert probe.probabilities_gum.argmax() == result.labels_gum[y, x] == probe.label_gum
        assert probe.probabilities_bilinear.argmax() == result.labels_bilinear[y, x]
        assert probe.offset == pytest.approx(tuple(result.offsets[:, y, x]))
        assert probe.sampled[0] == pytest.approx(min(max(probe.source[0] + probe.offset[0], 0), result.low_logits.shape[2] - 1))


def test_nearest_gum_gathers_labels(checkpoint: Path) -> None:
    seg = Segmenter.from_checkpoint(checkpoint, device="cpu", gum_mode="nearest")
    image = synthetic_frame(2)
    result = seg(image)
    low = torch.from_numpy(result.low_logits)[None]
    offsets = torch.from_numpy(result.offsets)[None]  # at the frame's pixels
    sx, sy, ox, oy = result.low_grid
    placement = Grid((sy, sx), (oy, ox))
    assert np.array_equal(result.labels_gum, guided_upsample_labels(low.argmax(1), offsets, placement)[0].numpy())
    probe = result.probe(50, 50)
    assert probe.probabilities_gum.argmax() == result.labels_gum[50, 50]


def test_model_without_guidance(checkpoint_bilinear: Path) -> None:
    seg = Segmenter.from_checkpoint(checkpoint_bilinear, device="cpu")
    assert not seg.has_guidance and "bilinear only" in seg.description
    result = seg(synthetic_frame(0))
    assert result.offsets is None and not result.has_guidance
    assert np.array_equal(result.labels_gum, result.labels_bilinear)
    assert result.probe(3, 3).offset is None


def test_low_precision_on_cpu(segmenter: Segmenter) -> None:
    image = synthetic_frame(0, (64, 96))
    reference = segmenter(image)
    try:
        segmenter.to(dtype="bfloat16", backend="torch")
        result = segmenter(image)
        assert segmenter.description.endswith("cpu torch bfloat16")
        # bf16 really ran (the logits differ) and is close; the random test network amplifies rounding
        # (calibrated on noise, small margins), so the bound is loose: `gun eval --backend torch --dtype
        # bfloat16` on the shipped weights is the real check (docs/speed.md)
        error = np.abs(result.low_logits - reference.low_logits).max() / np.abs(reference.low_logits).max()
        assert 0 < error < 0.5
        assert (result.labels_gum == reference.labels_gum).mean() > 0.5
    finally:
        segmenter.to(dtype="auto", backend="auto")


def test_auto_picks_the_fast_path_for_this_cpu(segmenter: Segmenter) -> None:
    """auto = OpenVINO (installed with the package) in bf16 only where the CPU has native bf16."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    native = bool(flags & {"amx_bf16", "avx512_bf16"})
    assert cpu_has_native_bf16() == native
    seg = Segmenter(segmenter.model, segmenter.meta, "cpu")
    assert seg.backend_name == ("openvino" if installed("openvino") else "onnxruntime" if installed("onnxruntime") else "torch")
    seg(synthetic_frame(0, (64, 96)))  # compiled for that shape: the precision it really runs is known
    assert seg.dtype == (torch.bfloat16 if native else torch.float32)
    assert seg.description.endswith(f"cpu {seg.backend_name} {str(seg.dtype).replace('torch.', '')}")


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backends_switch_at_run_time_and_agree(segmenter: Segmenter, backend: str) -> None:
    image = synthetic_frame(2, (75, 101))
    try:
        segmenter.to(backend="torch", dtype="float32")
        reference = segmenter(image)
        segmenter.to(backend=backend)
        assert segmenter.backend_name == backend and f"cpu {backend} float32" in segmenter.description
        result = segmenter(image)
    finally:
        segmenter.to(dtype="auto", backend="auto")
    assert (result.labels_gum == reference.labels_gum).mean() >= 0.999
    assert (result.labels_bilinear == reference.labels_bilinear).mean() >= 0.999
    assert np.allclose(result.offsets, reference.offsets, atol=1e-3)
    assert np.allclose(result.low_logits, reference.low_logits, atol=1e-3)


def test_a_refused_switch_changes_nothing(segmenter: Segmenter) -> None:
    before = segmenter.description
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        segmenter.to(backend="tensorrt")
    with pytest.raises(ValueError, match="onnxruntime runs float32"):
        segmenter.to(backend="onnxruntime", dtype="bfloat16")
    assert segmenter.description == before


def test_bad_inputs_say_what_is_wrong(segmenter: Segmenter, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        segmenter(np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError, match="precision"):
        segmenter.to(dtype="int8")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        Segmenter.from_checkpoint(bad, device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA was requested"):
            resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "cuda")


@pytest.mark.cuda
@cuda
def test_cuda_matches_cpu(checkpoint: Path) -> None:
    """CUDA runs the same network: logits within a few percent (cuDNN's TF32 convolutions in
    float32, fp16 autocast), most labels equal; a broken path would be off entirely."""
    image = synthetic_frame(4, (120, 200))
    cpu = Segmenter.from_checkpoint(checkpoint, device="cpu", dtype="float32", backend="torch")(image)
    gpu_seg = Segmenter.from_checkpoint(checkpoint, device="cuda", dtype="float32")
    assert gpu_seg.backend_name == "torch"  # auto on CUDA
    for dtype in ("float32", "auto"):  # auto = float16, BN folded, channels-last
        gpu_seg.to(dtype=dtype)
        gpu = gpu_seg(image)
        assert gpu.labels_gum.shape == (120, 200)
        error = np.abs(gpu.low_logits - cpu.low_logits).max() / np.abs(cpu.low_logits).max()
        assert error < 0.15 and (gpu.labels_gum == cpu.labels_gum).mean() > 0.75, (dtype, error)
    assert gpu_seg.dtype == torch.float16


@pytest.mark.cuda
@cuda
def test_cuda_graphs_at_a_fixed_input_size(checkpoint: Path) -> None:
    """With an input size every frame is resized to one shape: the forward is a replayed CUDA graph."""
    seg = Segmenter.from_checkpoint(checkpoint, device="cuda", dtype="float16", input_size=(128, 256))
    assert seg.backend.options["cuda_graphs"]
    image = synthetic_frame(1, (150, 300))
    first, second = seg(image), seg(synthetic_frame(1, (150, 300)))
    assert np.array_equal(first.labels_gum, second.labels_gum) and first.labels_gum.shape == (150, 300)
    eager = Segmenter.from_checkpoint(checkpoint, device="cuda", dtype="float16", input_size=(128, 256))
    eager.backend.options["cuda_graphs"] = False
    assert (eager(image).labels_gum == first.labels_gum).mean() > 0.95
    assert seg.backend.options["cuda_graphs"]  # no fallback to eager happened


def test_export_round_trip_and_cancel(segmenter: Segmenter, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "in.avi", frames=8)
    out = tmp_path / "out.mp4"
    seen = []
    with open_source(clip) as source:
        report = export_video(source, segmenter, out, VIEWS["side-by-side"], segmenter.class_names, segmenter.palette,
                              frames=5, progress=lambda done, total: seen.append((done, total)))
    assert report.frames == 5 and not report.cancelled and seen[-1] == (5, 5)
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (3 * 128, 96)
    cap.release()
    rows = list(csv.DictReader(report.sidecar.open()))
    assert [int(r["frame"]) for r in rows] == list(range(5))
    assert {"inference_ms", "differ_pct", "classes"} <= set(rows[0])

    cancel = threading.Event()
    target = tmp_path / "cancelled.mp4"

    def progress(done: int, total: int) -> None:
        if done == 2:
            cancel.set()

    with open_source(clip) as source:
        report = export_video(source, segmenter, target, VIEWS["overlay"], segmenter.class_names, segmenter.palette,
                              progress=progress, cancel=cancel)
    assert report.cancelled and not target.exists() and not target.with_suffix(".csv").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_export_scores_against_ground_truth(segmenter: Segmenter, tmp_path: Path) -> None:
    (tmp_path / "val").mkdir()
    (tmp_path / "valannot").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "val" / f"{i}.png"), synthetic_frame(i))
        cv2.imwrite(str(tmp_path / "valannot" / f"{i}.png"), np.full((96, 128), 3, np.uint8))
    with open_source(tmp_path / "val") as source:
        report = export_video(source, segmenter, tmp_path / "gt.mp4", VIEWS["overlay"], segmenter.class_names,
                              segmenter.palette)
    rows = list(csv.DictReader(report.sidecar.open()))
    assert len(rows) == 2
    assert 0.0 <= float(rows[1]["running_miou_gum"]) <= 1.0 and "miou_bilinear" in rows[0]


def test_annotate_command(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gun.cli import main

    clip = write_video(tmp_path / "in.avi", frames=4)
    out = tmp_path / "annotated.mp4"
    code = main(["annotate", str(clip), "--out", str(out), "--weights", str(checkpoint), "--view", "offsets",
                 "--frames", "3", "--device", "cpu", "--no-progress"])
    assert code == 0
    assert "wrote 3 frames" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    assert out.with_suffix(".csv").exists()
    assert main(["annotate", str(clip), "--out", str(tmp_path / "x.mp4"), "--weights", str(tmp_path / "none.safetensors")]) == 2
    assert main(["annotate", str(tmp_path / "missing.avi"), "--out", str(tmp_path / "y.mp4"), "--weights", str(checkpoint)]) == 2
    err = capsys.readouterr().err
    assert "weights" in err and "no such" in err
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "y.mp4").exists()
