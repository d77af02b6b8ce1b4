"""Training: it learns, it resumes exactly, and the multi-process path runs (gloo, 2 CPU processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from gun.experiments.losses import training_loss
from gun.experiments.schedule import epochs_in_budget, lr_at
from gun.experiments.train import TrainOptions, check_options, train
from gun.nn.checkpoint import load_model
from tests.datasets import make_camvid

ROOT = Path(__file__).resolve().parent.parent


def options(data: Path, out: Path, **kw: object) -> TrainOptions:
    base = TrainOptions(preset="gun", encoder="efficientnet_lite0", dataset="camvid", data_root=str(data), out=str(out),
                        epochs=2, batch_size=2, lr=0.02, schedule="poly", crop=(64, 128), scales=(1.0, 0.5),
                        encoder_weights=None, val_every=1, workers=0, precision="fp32", progress=False)
    return replace(base, **kw)


@pytest.fixture(scope="module")
def camvid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_camvid(tmp_path_factory.mktemp("camvid"), images=2)


def test_loss_falls_on_a_batch_it_can_memorise(camvid: Path, tmp_path: Path) -> None:
    opts = options(camvid, tmp_path / "run", epochs=12, random_scale=None, flip=False, val_every=0, lr=0.05)
    history = train(opts)["history"]
    assert history[-1]["loss"] < 0.5 * history[0]["loss"], [round(h["loss"], 3) for h in history]


def test_resume_reproduces_an_uninterrupted_run(camvid: Path, tmp_path: Path) -> None:
    straight = options(camvid, tmp_path / "straight", epochs=3)
    train(straight)
    interrupted = options(camvid, tmp_path / "resumed", epochs=3)
    train(replace(interrupted, epochs=1))  # "interrupted" after one epoch ...
    history = train(replace(interrupted, resume=True))["history"]  # ... and resumed
    assert [h["epoch"] for h in history] == [1, 2, 3]
    a = load_file(tmp_path / "straight" / "last.safetensors")
    b = load_file(tmp_path / "resumed" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    # the written checkpoints are complete and carry the run's metadata
    _model, meta = load_model(tmp_path / "resumed" / "best.safetensors")
    assert meta.dataset == "camvid" and meta.class_names[0] == "Sky" and "CC BY-NC" in meta.licence
    assert 0 <= meta.metrics["val_miou"] <= 1
    assert json.loads((tmp_path / "resumed" / "history.json").read_text())["history"][-1]["epoch"] == 3


def test_resume_without_state_says_what_to_do(camvid: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="without --resume"):
        train(options(camvid, tmp_path / "none", resume=True))


def test_a_split_smaller_than_a_batch_is_refused_not_trained_for_zero_steps(camvid: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fewer than one batch of 4: lower --batch-size"):
        train(options(camvid, tmp_path / "small", batch_size=4))
    assert not (tmp_path / "small" / "last.safetensors").exists()


def test_step_schedule_is_the_papers() -> None:
    opts = TrainOptions(lr=0.001, lr_step=100, schedule="step", epochs=250)
    assert [lr_at(opts, e) for e in (0, 99, 100, 199, 200)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5])


def test_the_auxiliary_losses_add_the_bilinear_decoding_and_the_offset_size() -> None:
    from gun.nn.config import preset
    from gun.nn.geometry import resample
    from gun.nn.model import build_model

    torch.manual_seed(0)
    for name in ("gun", "bilinear"):
        model = build_model(preset(name, encoder="efficientnet_lite0", num_classes=4, scales=(1.0, 1.0))).train()
        if model.guidance is not None:  # the head starts at zero offsets: give them some size and a mean
            torch.nn.init.normal_(model.guidance.head.conv.weight, std=0.2)
            torch.nn.init.constant_(model.guidance.head.conv.bias, 0.3)
        x, y = torch.randn(2, 3, 64, 96), torch.randint(0, 4, (2, 64, 96))
        out = model(x)
        plain = resample(out.low_logits, model.logits_grid, (64, 96))  # bilinear onto the input's pixels
        base = F.cross_entropy(out.logits, y)
        got = training_loss(model, out, y, None, TrainOptions(aux_bilinear=0.4, offset_l1=0.1, offset_mean=0.5))
        if name == "bilinear":  # no guidance: nothing to add, its loss is already the bilinear one
            assert torch.allclose(base, F.cross_entropy(plain, y)) and torch.allclose(got, base)
        else:
            mean_offset = [out.offsets[i].detach().mean((1, 2)) for i in range(2)]  # each image's (x, y) translation
            want = (base + 0.4 * F.cross_entropy(plain, y) + 0.1 * out.offsets.abs().mean()
                    + 0.5 * sum(float(torch.hypot(m[0], m[1])) for m in mean_offset) / 2)
            assert torch.allclose(got, want) and not torch.allclose(got, base)
            assert torch.allclose(training_loss(model, out, y, None, TrainOptions()), base)


def test_a_time_budget_fits_the_epochs_and_never_exceeds_the_ask() -> None:
    # 60 s budget, 2 epochs done in 10 s, the last took 5 s (+10% margin): 50 / 5.5 -> 9 more
    assert epochs_in_budget(TrainOptions(epochs=100, minutes=1), 2, 10.0, 5.0) == 11
    assert epochs_in_budget(TrainOptions(epochs=8, minutes=1), 2, 10.0, 5.0) == 8
    assert epochs_in_budget(TrainOptions(epochs=100, minutes=0.1), 2, 10.0, 5.0) == 3  # over budget: one last epoch
    # validation (8 s, every 2nd epoch) and saves (2 s, every epoch) are paid for: 4 + 2 s more per
    # epoch, and the last epoch's own 10 s: (60 - 10 - 10) / (11 * 1.1) -> 3 more
    assert epochs_in_budget(TrainOptions(epochs=100, minutes=1, val_every=2, save_every=1), 2, 10.0, 5.0, 8.0, 2.0) == 5


def test_a_time_budgeted_run_anneals_to_zero_within_its_plan(camvid: Path, tmp_path: Path) -> None:
    history = train(options(camvid, tmp_path / "run", epochs=1000, minutes=0.1, val_every=0))["history"]
    saved = json.loads((tmp_path / "run" / "history.json").read_text())
    assert 2 < len(history) < 1000 and saved["options"]["epochs"] == len(history)
    assert history[-1]["lr"] == pytest.approx(0.02 * (1 / len(history)) ** 0.9)  # the poly schedule's last step


@pytest.mark.slow
def test_two_process_gloo_training(camvid: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "-m", "gun.cli", "train",
           "--preset", "gun", "--encoder", "efficientnet_lite0", "--scales", "1", "0.5", "--encoder-weights", "none",
           "--dataset", "camvid", "--data-root", str(camvid), "--out", str(out), "--epochs", "1", "--batch-size", "2",
           "--crop", "64", "128", "--workers", "0", "--precision", "fp32", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    history = json.loads((out / "history.json").read_text())["history"]
    assert len(history) == 1 and "val_miou" in history[0]
    load_model(out / "last.safetensors")


def test_the_training_cache_hits_in_every_loader_worker(camvid: Path) -> None:
    """Samples are decoded once, before the loader forks its workers: reading a batch in forked
    workers, epoch after epoch, never opens an image file again."""
    from torch.utils.data import DataLoader

    from gun.data import open_dataset
    from gun.data.transforms import Augmentation
    from gun.experiments.train import EpochAugmented, class_weights, should_preload

    ds = open_dataset("camvid", camvid, "train")
    assert should_preload(options(camvid, camvid / "out"), ds)  # CamVid fits in memory: auto preloads
    cached = EpochAugmented(ds, Augmentation(crop=(64, 128)), seed=0, preload=True)
    ds.pairs = [(p.with_name("gone.png"), q.with_name("gone.png")) for p, q in ds.pairs]  # disk reads would fail now
    for epoch in range(2):
        cached.epoch = epoch
        x, y = next(iter(DataLoader(cached, batch_size=2, num_workers=2, multiprocessing_context="fork")))
        assert x.dtype == torch.uint8 and x.shape == (2, 3, 64, 128) and y.shape == (2, 64, 128)
    weights = class_weights(open_dataset("camvid", camvid, "train"), "median-freq")
    assert weights is not None and weights.shape == (11,) and (weights >= 0).all()


def test_far_pixels_are_those_with_one_label_in_their_window() -> None:
    from gun.data.labels import IGNORE
    from gun.experiments.losses import far_from_label_changes

    rng = np.random.default_rng(0)
    y = np.zeros((2, 17, 23), np.int64)
    y[:, :, 12:] = 1
    y[0, 3:6, 2:5] = IGNORE
    y[1, 9, 20] = 2
    y[1] = np.where(rng.random((17, 23)) < 0.01, 3, y[1])
    for r in (1, 2, 3):
        want = np.zeros_like(y, bool)
        for n in range(2):
            for i in range(17):
                for j in range(23):
                    window = y[n, max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
                    want[n, i, j] = y[n, i, j] != IGNORE and bool((window == y[n, i, j]).all())
        assert (far_from_label_changes(torch.from_numpy(y), r).numpy() == want).all()


def test_the_far_offset_loss_charges_only_offsets_away_from_label_changes() -> None:
    from gun.nn.config import preset
    from gun.nn.model import build_model

    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=4, scales=(1.0, 1.0))).train()
    assert model.guidance is not None
    torch.nn.init.zeros_(model.guidance.head.conv.weight)
    torch.nn.init.constant_(model.guidance.head.conv.bias, -0.3)
    offset = model.guidance.head.bound * np.tanh(0.3)  # every offset is (-offset, -offset)
    x = torch.randn(2, 3, 64, 96)
    out = model(x)
    one_region = torch.zeros(2, 64, 96, dtype=torch.long)
    one_region[:, :, 60:] = 1
    stripes = (torch.arange(96) // 4 % 2).expand(2, 64, 96).contiguous()  # a label change every 4 px: none is far
    for y, far_term in ((one_region, 2 * offset), (stripes, 0.0)):
        base = F.cross_entropy(out.logits, y)
        got = training_loss(model, out, y, None, TrainOptions(offset_far=2.0))
        assert float(got.detach()) == pytest.approx(float(base.detach()) + 2.0 * far_term, abs=1e-5)


def test_edge_weighted_cross_entropy_is_the_written_out_weighted_mean() -> None:
    from gun.data.labels import IGNORE
    from gun.experiments.losses import cross_entropy

    rng = np.random.default_rng(2)
    y = np.zeros((2, 11, 14), np.int64)
    y[:, :, 6:] = 1
    y[0, 2:4, 9:11] = 2
    y[1, 7:, :3] = IGNORE
    logits = torch.from_numpy(rng.normal(size=(2, 3, 11, 14)))
    class_w = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    nll = -torch.log_softmax(logits, 1).numpy()
    for edge_weight, r in ((2.0, 1), (0.5, 3)):
        num = den = 0.0
        for n in range(2):
            for i in range(11):
                for j in range(14):
                    c = y[n, i, j]
                    if c == IGNORE:
                        continue
                    window = y[n, max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]
                    w = float(class_w[c]) * (1.0 if (window == c).all() else 1.0 + edge_weight)
                    num, den = num + w * nll[n, c, i, j], den + w
        got = cross_entropy(logits, torch.from_numpy(y), class_w.float(), edge_weight, r)  # float32, as in training
        assert float(got) == pytest.approx(num / den, rel=1e-5)
    plain = F.cross_entropy(logits.float(), torch.from_numpy(y), weight=class_w.float(), ignore_index=IGNORE)
    assert float(cross_entropy(logits, torch.from_numpy(y), class_w.float(), 0.0)) == pytest.approx(float(plain))


def test_lovasz_softmax_is_one_minus_iou_on_hard_predictions() -> None:
    from gun.data.labels import IGNORE
    from gun.experiments.losses import lovasz_softmax
    from gun.nn.config import preset
    from gun.nn.model import build_model

    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, (2, 9, 13))  # class 4 of 5 never occurs: it does not count
    pred = np.where(rng.random(y.shape) < 0.7, y, rng.integers(0, 5, y.shape))
    y[0, :2] = IGNORE
    pred[0, :2] = 4  # wrong, but ignored
    logits = 100.0 * F.one_hot(torch.from_numpy(pred), 5).permute(0, 3, 1, 2).double()
    labelled = y != IGNORE
    ious = [((pred == c) & (y == c)).sum() / (((pred == c) | (y == c)) & labelled).sum() for c in range(4)]
    assert float(lovasz_softmax(logits, torch.from_numpy(y))) == pytest.approx(1 - np.mean(ious), abs=1e-6)
    assert float(lovasz_softmax(100.0 * F.one_hot(torch.from_numpy(np.where(labelled, y, 0)), 5).permute(0, 3, 1, 2).double(),
                                torch.from_numpy(y))) == pytest.approx(0.0, abs=1e-6)
    soft = torch.zeros(2, 5, 9, 13, requires_grad=True)  # uniform probabilities: every class's error is 0.8 or 0.2
    loss = lovasz_softmax(soft, torch.from_numpy(y))
    loss.backward()
    assert 0 < float(loss.detach()) < 1 and soft.grad is not None and float(soft.grad.abs().sum()) > 0
    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=5, scales=(1.0, 1.0))).train()
    out = model(torch.randn(2, 3, 64, 96))
    labels = torch.from_numpy(rng.integers(0, 5, (2, 64, 96)))
    got = training_loss(model, out, labels, None, TrainOptions(lovasz=0.5))
    want = F.cross_entropy(out.logits, labels) + 0.5 * lovasz_softmax(out.logits, labels)
    assert float(got.detach()) == pytest.approx(float(want.detach()), abs=1e-6)


def test_the_guidance_width_and_pool_are_training_options() -> None:
    from gun.experiments.train import build_training_model

    for width in (None, 8):
        model = build_training_model(TrainOptions(preset="gun", encoder="efficientnet_lite0", encoder_weights=None,
                                                  scales=(1.0, 1.0), guidance_channels=width), 4)
        assert model.guidance is not None
        assert model.guidance.head.conv.in_channels == (width or 32)
    pooled = build_training_model(TrainOptions(preset="gun", encoder="efficientnet_lite0", encoder_weights=None,
                                               scales=(1.0, 1.0), guidance_pool=2), 4)
    assert pooled.config.guidance_pool == 2 and pooled.guidance is not None and pooled.guidance.pool == 2
    sub = build_training_model(TrainOptions(preset="gun", encoder="efficientnet_lite0", encoder_weights=None,
                                            scales=(1.0, 1.0), guidance_pool=4, guidance_subpixel=True), 4)
    assert sub.config.guidance_subpixel and sub.guidance is not None and sub.guidance.head.conv.out_channels == 2 * 4 * 4
    for bad in ({"guidance_pool": None}, {"guidance_pool": 2, "preset": "high-res"}):
        with pytest.raises(ValueError, match="--guidance-subpixel needs fusion guidance"):
            check_options(TrainOptions(**{"preset": "gun", "guidance_subpixel": True, **bad}))
