"""Training safety (issue 10): a NaN loss stops `gun train` with one line and keeps the last good
checkpoint and state; an interrupted save never damages the previous files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from datasets import make_camvid

from gun.nn.checkpoint import load_model, read_meta


def test_nan_loss_stops_training_with_one_line_and_keeps_the_last_good_state(tmp_path: Path, capfd: pytest.CaptureFixture,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from gun.cli import main

    root = make_camvid(tmp_path / "camvid", splits=("train",), images=2, size=(64, 96))
    out = tmp_path / "run"
    calls = {"n": 0}
    real = F.cross_entropy

    def loss_goes_nan_in_epoch_2(*args: object, **kwargs: object) -> torch.Tensor:
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] >= 2 else loss

    monkeypatch.setattr(F, "cross_entropy", loss_goes_nan_in_epoch_2)
    rc = main(["train", "--dataset", "camvid", "--data-root", str(root), "--out", str(out), "--encoder", "efficientnet_lite0",
               "--encoder-weights", "none", "--epochs", "3", "--max-steps", "1", "--batch-size", "2", "--crop", "64", "64", "--scales", "1.0", "0.5",
               "--workers", "0", "--val-every", "0", "--cache", "no", "--precision", "fp32", "--no-progress"])
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("gun train: error: epoch 2, step 1: the loss is nan; training stopped, the last good checkpoint is kept")
    model, meta = load_model(out / "last.safetensors")  # loads: finite weights of epoch 1
    assert meta.metrics["epoch"] == 1 and read_meta(out / "last.safetensors").config == model.config
    state = torch.load(out / "train_state.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert json.loads((out / "history.json").read_text())["history"][0]["epoch"] == 1
    assert not [p.name for p in out.iterdir() if "partial" in p.name or p.suffix == ".tmp"]


def test_an_interrupted_state_save_keeps_the_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gun.experiments import train as training

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    path = tmp_path / "train_state.pt"
    training._save_state(path, model, optimizer, scaler, 1, [{"epoch": 1}], 0.5, 2)
    before = path.read_bytes()
    real_save = torch.save

    def killed_midway(obj: object, f: str) -> None:
        real_save(obj, f)
        with open(f, "r+b") as fh:
            fh.truncate(100)  # half written when the process dies (here: raises)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        training._save_state(path, model, optimizer, scaler, 2, [{"epoch": 1}, {"epoch": 2}], 0.6, 2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_state.pt"]
    assert torch.load(path, weights_only=True)["epoch"] == 1
