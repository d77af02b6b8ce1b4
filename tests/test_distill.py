"""Pooled guidance (config.guidance_pool) and `gun distill`: the pooled guide's cells sit where the
averages are, the pooled model exports like any other, and distillation keeps every frozen weight
while the student's offsets move towards the teacher's."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import calibrated_model, make_checkpoint

from gun.cli import main
from gun.data import open_dataset
from gun.data.labels import IGNORE
from gun.experiments.distill import batches, distill, task_term, teacher_features
from gun.experiments.export import smooth_frame
from gun.experiments.train import TrainOptions
from gun.nn.checkpoint import load_model, validate_meta
from gun.nn.config import preset
from gun.nn.decoders.guidance import pool_guide, pooled_grid
from gun.nn.geometry import branch_grid
from gun.nn.model import build_model
from gun.runtime.backends import create_backend
from gun.runtime.frames import decode, prepare, to_tensor
from tests.datasets import make_camvid

CPU = torch.device("cpu")


@pytest.mark.parametrize("pool", [2, 4])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_pooled_cells_sit_at_the_mean_of_the_cells_they_average(pool: int, scale: float) -> None:
    """A guide whose values are its cells' own input coordinates, averaged, gives the coordinates
    pooled_grid claims (averaging is linear: the mean of positions is the position of the mean)."""
    grid = branch_grid(scale, 2)
    h, w = 8, 12
    ys = grid.origin[0] + grid.stride[0] * torch.arange(h, dtype=torch.float64)
    xs = grid.origin[1] + grid.stride[1] * torch.arange(w, dtype=torch.float64)
    guide = torch.stack([xs.expand(h, w), ys[:, None].expand(h, w)])[None]  # (1, 2, h, w): x, y
    pooled, cells = pool_guide(guide, pool), pooled_grid(grid, pool)
    want_x = cells.origin[1] + cells.stride[1] * torch.arange(w // pool, dtype=torch.float64)
    want_y = cells.origin[0] + cells.stride[0] * torch.arange(h // pool, dtype=torch.float64)
    torch.testing.assert_close(pooled[0, 0, 0], want_x)
    torch.testing.assert_close(pooled[0, 1, :, 0], want_y)
    assert pooled_grid(grid, 1) == grid and pool_guide(guide, 1) is guide


@pytest.mark.parametrize("subpixel", [False, True], ids=["mean", "subpixel"])
def test_a_pooled_model_exports_and_gives_torch_offsets(subpixel: bool) -> None:
    config = preset("gun", encoder="efficientnet_lite0", num_classes=5, scales=(1.0, 0.5), guidance_pool=2,
                    guidance_subpixel=subpixel)
    model = calibrated_model(config, calibration=(2, 128, 192))
    guide_grid = branch_grid(1.0, 2)
    assert model.offsets_grid == (guide_grid if subpixel else pooled_grid(guide_grid, 2))
    x = smooth_frame((128, 192))
    low, offsets = create_backend("torch", model, CPU, "float32").run(x)
    cells = 2 if subpixel else 4  # stride 2, then (without subpixel) 2x2 cells
    assert offsets is not None and offsets.shape[-2:] == (128 // cells, 192 // cells)
    got_low, got_offsets = create_backend("onnxruntime", model, CPU, "float32").run(x)
    torch.testing.assert_close(got_low, low, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(got_offsets, offsets, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("pool", [2, 4])
def test_subpixel_offsets_of_each_guide_pixel_come_from_its_own_place_in_the_cell(pool: int) -> None:
    """With subpixel the module runs on pool x pool cells of the guide but writes an offset for each
    guide pixel: the head's channel k (x) and pool**2 + k (y), k = i * pool + j, is the offset
    of the pixel in row i, column j of its cell (ESPCN's order), on the guide's own stride-2 grid;
    and the strided convolution reads each pixel of the cell, not their mean."""
    config = preset("gun", encoder="efficientnet_lite0", num_classes=5, scales=(1.0, 0.5), guidance_pool=pool,
                    guidance_subpixel=True)
    model = build_model(config).eval()
    guidance = model.guidance
    assert guidance is not None and model.offsets_grid == branch_grid(1.0, 2)
    n = pool * pool
    codes = torch.arange(2 * n, dtype=torch.float32) / (4 * n)  # distinct, inside tanh's range
    with torch.no_grad():
        guidance.head.conv.bias.copy_(torch.atanh(codes / guidance.head.bound))
        guide, fused = torch.rand(1, 16, 4 * pool, 6 * pool), torch.rand(1, guidance.large[0].in_channels, 4, 6)
        offsets = guidance(guide, fused)  # zero weights: the bias alone
    assert offsets.shape == (1, 2, 4 * pool, 6 * pool)
    for i in range(pool):
        for j in range(pool):
            k = i * pool + j
            torch.testing.assert_close(offsets[0, 0, i::pool, j::pool], codes[k].expand(4, 6))
            torch.testing.assert_close(offsets[0, 1, i::pool, j::pool], codes[n + k].expand(4, 6))
    # the first Conv-BN sees each pixel: changing one pixel's guide (keeping its cell's mean) changes the cell
    conv = guidance.high[0]
    assert conv.kernel_size == (pool, pool) and conv.stride == (pool, pool)
    moved = guide.clone()
    moved[0, :, 0, 0] += 1.0
    moved[0, :, 0, 1] -= 1.0
    assert pool_guide(moved, pool).sub(pool_guide(guide, pool)).abs().max() < 1e-6
    with torch.no_grad():
        assert (guidance.high(moved) - guidance.high(guide)).abs()[0, :, 0, 0].max() > 1e-3


def test_bad_pools_are_refused() -> None:
    config = preset("gun", encoder="efficientnet_lite0", num_classes=5)
    with pytest.raises(ValueError, match="guidance_pool must be 1, 2 or 4"):
        replace(config, guidance_pool=3)
    with pytest.raises(ValueError, match="fusion or high-res"):
        preset("large-rf", guidance_pool=2)
    for bad in ({"guidance_pool": 1}, {"guidance": "high-res", "guidance_pool": 2}):
        with pytest.raises(ValueError, match="guidance_subpixel needs fusion guidance with guidance_pool 2 or 4"):
            replace(config, guidance_subpixel=True, **bad)
    with pytest.raises(ValueError, match="config.guidance_subpixel"):
        validate_meta({"config": {"guidance_subpixel": "yes"}, "class_names": ["a"] * 19, "palette": [[0, 0, 0]] * 19,
                       "mean": [0, 0, 0], "std": [1, 1, 1]})
    with pytest.raises(ValueError, match="config.guidance_pool"):  # an untrusted checkpoint's metadata
        validate_meta({"config": {"guidance_pool": 64}, "class_names": ["a"] * 19, "palette": [[0, 0, 0]] * 19,
                       "mean": [0, 0, 0], "std": [1, 1, 1]})


def test_distill_keeps_the_frozen_weights_and_learns_the_teachers_offsets(tmp_path: Path) -> None:
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(64, 96))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=3, size=(64, 96))
    teacher, _ = load_model(teacher_path)
    out = tmp_path / "student.safetensors"
    assert main(["distill", "--checkpoint", str(teacher_path), "--dataset", "camvid", "--data-root", str(root),
                 "--pool", "2", "--channels", "8", "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    student, meta = load_model(out)
    assert meta.config.guidance_pool == 2 and meta.config.guidance_channels == 8 and not meta.config.guidance_subpixel
    assert meta.command.startswith("gun distill") and meta.metrics == {} and meta.class_names == load_model(teacher_path)[1].class_names
    theirs = teacher.state_dict()
    for key, value in student.state_dict().items():
        if not key.startswith("guidance."):  # frozen, stored as float16
            torch.testing.assert_close(value, theirs[key].half().to(value.dtype), rtol=0, atol=0)
    assert student.guidance is not None and student.guidance.head.conv.weight.shape[1] == 8
    # the student's head starts at zero offsets, so its first L1 is the teacher's mean |offset|; training lowers it
    _, first = distill(teacher_path, tmp_path / "s1.safetensors", "camvid", root, epochs=1, lr=1e-9, progress=False)
    _, trained = distill(teacher_path, tmp_path / "s2.safetensors", "camvid", root, epochs=20, lr=1e-2, progress=False)
    assert trained < 0.8 * first


def test_distill_subpixel_writes_a_subpixel_student_that_reruns_from_its_command(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture) -> None:
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(64, 96))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=1, size=(64, 96))
    out = tmp_path / "sub.safetensors"
    assert main(["distill", "--checkpoint", str(teacher_path), "--dataset", "camvid", "--data-root", str(root),
                 "--pool", "4", "--subpixel", "--channels", "8", "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    student, meta = load_model(out)
    assert (meta.config.guidance_pool, meta.config.guidance_subpixel) == (4, True) and "--subpixel" in meta.command
    assert student.offsets_grid == load_model(teacher_path)[0].offsets_grid  # the teacher's stride-2 grid
    capsys.readouterr()
    # an --init of another kind of module is refused, naming what differs
    assert main(["distill", "--checkpoint", str(teacher_path), "--dataset", "camvid", "--data-root", str(root),
                 "--pool", "4", "--channels", "8", "--init", str(out), "--out", str(tmp_path / "s2.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "subpixel True" in err and "subpixel False" in err
    # --subpixel without cells to split is one line and exit 2, nothing written
    lone = tmp_path / "pool1.safetensors"
    assert main(["distill", "--checkpoint", str(teacher_path), "--dataset", "camvid", "--data-root", str(root),
                 "--pool", "1", "--subpixel", "--out", str(lone)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--pool 2 or 4" in err and not lone.exists()


def test_distill_refuses_a_model_without_guidance(tmp_path: Path, checkpoint_bilinear: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=1)
    assert main(["distill", "--checkpoint", str(checkpoint_bilinear), "--dataset", "camvid", "--data-root", str(root),
                 "--out", str(tmp_path / "s.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no guidance module to distil" in err
    assert not (tmp_path / "s.safetensors").exists()


def test_distill_refuses_features_that_would_not_fit_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gun.experiments import distill as module

    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(64, 96))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=3, size=(64, 96))
    monkeypatch.setattr(module, "memory_bytes", lambda: 200_000)  # a machine with 200 kB
    with pytest.raises(ValueError, match=r"need about .* GiB.*use --limit \d+ or fewer"):
        distill(teacher_path, tmp_path / "s.safetensors", "camvid", root, epochs=1, progress=False)
    assert not (tmp_path / "s.safetensors").exists()


def test_the_task_loss_is_the_loss_of_what_gun_eval_decodes(tmp_path: Path) -> None:
    # frames of 64x96 run at 96x144 (the shipped model's 1.5x): the labels sit off the input's grid
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(96, 144))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=1, size=(64, 96))
    model, meta = load_model(teacher_path)
    data = open_dataset("camvid", root, "train")
    image, labels = data.load(0)
    items = teacher_features(model, meta, data, 1, progress=False)
    assert len(items) == 2 and torch.equal(items[1].labels[0], torch.from_numpy(labels[:, ::-1].copy()))
    with torch.no_grad():
        prep = prepare(to_tensor(image), meta.mean, meta.std, model.input_multiple, meta.input_size)
        logits = decode(model, model(prep.x, full=False), prep)  # gun eval's decoding
        expected = F.cross_entropy(logits, torch.from_numpy(labels).long()[None], ignore_index=IGNORE)
        got = task_term(model, items[0], items[0].offsets, None, TrainOptions(command=""))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_distill_with_the_task_loss_fine_tunes_the_teachers_module_and_lowers_the_loss(tmp_path: Path) -> None:
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(96, 144))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=2, size=(64, 96))
    teacher, meta = load_model(teacher_path)
    width = meta.config.guidance_channels
    items = teacher_features(teacher, meta, open_dataset("camvid", root, "train"), 2, progress=False)

    def task_loss(path: Path) -> float:
        student, _ = load_model(path)
        assert student.guidance is not None
        with torch.no_grad():
            return sum(float(task_term(student, t, student.guidance(t.guide.float(), t.fused.float()), None,
                                       TrainOptions(command=""))) for t in items)

    def run(out: Path, epochs: int, lr: float) -> Path:
        distill(teacher_path, out, "camvid", root, pool=1, channels=width, epochs=epochs, lr=lr, l1=0.0, task=1.0,
                progress=False)
        return out

    # the teacher's own pool and width: the student starts as the teacher's module (a fine-tune)
    still = run(tmp_path / "still.safetensors", 1, 1e-9)
    theirs = teacher.state_dict()
    for key, value in load_model(still)[0].state_dict().items():
        if key.startswith("guidance.head"):
            torch.testing.assert_close(value, theirs[key].half().to(value.dtype), rtol=0, atol=1e-6)
    tuned = run(tmp_path / "tuned.safetensors", 15, 1e-2)
    assert task_loss(tuned) < 0.95 * task_loss(still)


@pytest.mark.parametrize("guidance", [True, False], ids=["gun", "twin"])
def test_head_fine_tunes_the_classifier_and_keeps_the_rest(tmp_path: Path, guidance: bool) -> None:
    """--head: the classifier learns (with the guidance module of a GUN; alone for its bilinear twin,
    the same step for both), every other weight stays the teacher's, and the task loss of what the
    student decodes falls."""
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", guidance=guidance, input_size=(96, 144))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=2, size=(64, 96))
    teacher, meta = load_model(teacher_path)
    items = teacher_features(teacher, meta, open_dataset("camvid", root, "train"), 2, progress=False)
    assert all((t.guide is None) == (not guidance) and (t.offsets is None) == (not guidance) for t in items)

    def task_loss(path: Path) -> float:
        student, _ = load_model(path)
        with torch.no_grad():
            total = 0.0
            for t in items:
                offsets = None if student.guidance is None else student.guidance(t.guide.float(), t.fused.float())
                total += float(task_term(student, t, offsets, None, TrainOptions(command=""), student.classifier(t.fused.float())))
            return total

    out = tmp_path / "head.safetensors"
    width = meta.config.guidance_channels
    assert main(["distill", "--checkpoint", str(teacher_path), "--dataset", "camvid", "--data-root", str(root),
                 "--pool", "1", "--channels", str(width), "--l1", "0", "--task", "1", "--head", "--epochs", "15",
                 "--lr", "1e-2", "--out", str(out), "--no-progress"]) == 0
    student, student_meta = load_model(out)
    assert student_meta.config == meta.config and "--head" in student_meta.command
    theirs, changed = teacher.state_dict(), set()
    for key, value in student.state_dict().items():
        if key.startswith(("classifier.", "guidance.")):
            if not torch.allclose(value, theirs[key].half().to(value.dtype)):
                changed.add(key.split(".")[0])
        else:  # frozen, stored as float16
            torch.testing.assert_close(value, theirs[key].half().to(value.dtype), rtol=0, atol=0)
    assert changed == ({"classifier", "guidance"} if guidance else {"classifier"})
    assert task_loss(out) < 0.95 * task_loss(teacher_path)


def test_head_of_a_bilinear_model_refuses_offset_terms(tmp_path: Path, checkpoint_bilinear: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=1)
    assert main(["distill", "--checkpoint", str(checkpoint_bilinear), "--dataset", "camvid", "--data-root", str(root),
                 "--head", "--task", "1", "--out", str(tmp_path / "s.safetensors")]) == 2  # --l1 defaults to 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no offsets: pass --l1 0" in err
    assert not (tmp_path / "s.safetensors").exists()


@pytest.mark.parametrize("steps", [1, 2, 10, 11])
def test_distill_runs_any_number_of_steps(tmp_path: Path, steps: int) -> None:
    # one image and its mirror make one batch an epoch; 10 steps once crashed torch's OneCycleLR
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(64, 96))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=1, size=(64, 96))
    out = tmp_path / "s.safetensors"
    distill(teacher_path, out, "camvid", root, pool=1, channels=load_model(teacher_path)[1].config.guidance_channels,
            epochs=steps, progress=False)
    assert load_model(out)[1].config.guidance_pool == 1


def test_offset_mean_pulls_each_images_mean_offset_to_zero(tmp_path: Path) -> None:
    """--offset-mean penalises the translation of the whole map (each image's mean offset), as in gun
    train: the same step with it ends with a much shorter mean offset than without it."""
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(96, 144))  # offsets biased (0.5, -0.4)
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=2, size=(64, 96))
    teacher, meta = load_model(teacher_path)
    items = teacher_features(teacher, meta, open_dataset("camvid", root, "train"), 2, progress=False)

    def mean_offset(weight: str) -> float:
        out = tmp_path / f"mean{weight}.safetensors"
        assert main(["distill", "--checkpoint", str(teacher_path), "--dataset", "camvid", "--data-root", str(root),
                     "--pool", "1", "--channels", str(meta.config.guidance_channels), "--l1", "0", "--task", "1",
                     "--offset-mean", weight, "--epochs", "30", "--lr", "3e-3", "--out", str(out), "--no-progress"]) == 0
        student, student_meta = load_model(out)
        assert ("--offset-mean" in student_meta.command) == (float(weight) > 0)
        assert student.guidance is not None
        with torch.no_grad():
            return float(np.mean([student.guidance(t.guide.float(), t.fused.float()).mean((2, 3)).norm() for t in items]))

    # measured: 0.21 against 0.70 low-res px (the teacher's: 1.90)
    assert mean_offset("5") < 0.5 * mean_offset("0")


def test_scales_show_each_frame_at_each_size_and_batches_never_mix_sizes(tmp_path: Path) -> None:
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(96, 144))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=3, size=(64, 96))
    model, meta = load_model(teacher_path)
    items = teacher_features(model, meta, open_dataset("camvid", root, "train"), 3, progress=False, scales=(1.0, 1.5))
    assert len(items) == 3 * 2 * 2  # images x (frame, mirror) x scales
    # the 64x96 frames run at the model's 96x144 (1.5 input pixels a frame pixel) and at 1.5x that, 144x216
    assert sorted({tuple(round(x, 6) for x in t.target.stride) for t in items}) == [(1.5, 1.5), (2.25, 2.25)]
    assert len({tuple(t.fused.shape) for t in items}) == 2
    assert all(tuple(t.labels.shape[-2:]) == (64, 96) for t in items)  # the loss is always at the frame's pixels
    chunks = batches(items, 4, np.random.default_rng(0))
    assert sorted(k for c in chunks for k in c) == list(range(len(items)))
    assert all(len({tuple(items[k].fused.shape) for k in c}) == 1 for c in chunks)
    single = [t for t in items if t.target.stride[0] == 1.5]  # one size: one permutation, chunked in order
    assert batches(single, 4, np.random.default_rng(5)) == [list(map(int, np.random.default_rng(5).permutation(6)[j:j + 4])) for j in (0, 4)]
    with pytest.raises(ValueError, match="--scales 1.0 0.1: each must be between 0.25 and 4"):
        distill(teacher_path, tmp_path / "s.safetensors", "camvid", root, epochs=1, progress=False, scales=(1.0, 0.1))
    assert not (tmp_path / "s.safetensors").exists()


def test_distill_refuses_an_init_of_another_shape_and_no_objective(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(64, 96))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=1, size=(64, 96))
    base = ["distill", "--checkpoint", str(teacher_path), "--dataset", "camvid", "--data-root", str(root),
            "--out", str(tmp_path / "s.safetensors"), "--no-progress"]
    for extra, message in ((["--pool", "2", "--init", str(teacher_path)], "--init .*its config differs"),
                           (["--l1", "0"], "--l1 0.0 and --task 0.0")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and re.search(message, err), err
    assert not (tmp_path / "s.safetensors").exists()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_distill_on_cuda_trains_the_module_the_cpu_trains(tmp_path: Path) -> None:
    teacher_path = make_checkpoint(tmp_path / "teacher.safetensors", input_size=(96, 144))
    root = make_camvid(tmp_path / "camvid", splits=("train",), images=2, size=(64, 96))
    width = load_model(teacher_path)[1].config.guidance_channels
    runs, lr, steps = {}, 1e-3, 3  # 2 images and their mirrors: one batch of 4 an epoch
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.safetensors"
        _, l1 = distill(teacher_path, out, "camvid", root, pool=1, channels=width, epochs=steps, lr=lr, l1=0.1, task=1.0,
                        progress=False, device=device)
        runs[device] = (l1, load_model(out)[0].state_dict())
    assert runs["cuda"][0] == pytest.approx(runs["cpu"][0], rel=1e-2, abs=1e-4)
    # AdamW moves a weight by about lr a step whatever its gradient's size, so where rounding (TF32
    # convolutions on the GPU) flips a near-zero gradient the two runs part by up to 2 lr a step;
    # measured on an H200: 0.3% of the weights over 0.002 apart, the largest 0.0025
    for key, value in runs["cpu"][1].items():  # the saved file is on the CPU whichever device trained it
        torch.testing.assert_close(runs["cuda"][1][key], value, rtol=1e-2, atol=2 * lr * steps)
