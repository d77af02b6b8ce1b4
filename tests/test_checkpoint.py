"""The checkpoint format: exact round-trips, and refusal of anything else (nothing is unpickled)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gun.nn.checkpoint import CheckpointError, CheckpointMeta, load_model, read_meta, save_checkpoint
from gun.nn.config import preset
from gun.nn.model import build_model


def make(tmp_path: Path, name: str = "model.safetensors", dtype: torch.dtype | None = None):
    torch.manual_seed(0)
    cfg = preset("gun", encoder="efficientnet_lite0", num_classes=3, scales=(1.0, 0.5))
    model = build_model(cfg).eval()
    with torch.no_grad():  # non-trivial offsets and BN statistics
        model.guidance.head.conv.weight.normal_(0, 0.1)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
    meta = CheckpointMeta(config=cfg, preset="gun", class_names=("a", "b", "c"), palette=((1, 2, 3), (4, 5, 6), (7, 8, 9)),
                          mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), train_size=(64, 96), dataset="test",
                          metrics={"val_miou": 0.5}, licence="test only", command="gun train ...")
    path = tmp_path / name
    save_checkpoint(path, model, meta, dtype=dtype)
    return model, meta, path


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model, meta, path = make(tmp_path)
    loaded, meta2 = load_model(path)
    assert meta2 == meta
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.offsets, b.offsets)
    assert not loaded.training


def test_float16_weights_load_back_as_float32(tmp_path: Path) -> None:
    model, _, path = make(tmp_path, dtype=torch.float16)
    loaded, _ = load_model(path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x).logits, rtol=0.05, atol=0.05)
    assert path.stat().st_size < 0.6 * sum(t.numel() * 4 for t in model.state_dict().values())


def test_meta_is_readable_without_tensors(tmp_path: Path) -> None:
    _, meta, path = make(tmp_path)
    assert read_meta(path).class_names == meta.class_names


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "nothing.safetensors")


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    _, _, path = make(tmp_path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a GUN checkpoint"):
        load_model(garbage)


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    model, meta, _ = make(tmp_path)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["classifier.weight"] = torch.zeros(5, *state["classifier.weight"].shape[1:])
    bad = tmp_path / "bad.safetensors"
    save_file(state, bad, metadata={"gun": meta.to_json()})
    with pytest.raises(CheckpointError, match="classifier.weight has shape"):
        load_model(bad)
    del state["classifier.weight"]
    save_file(state, bad, metadata={"gun": meta.to_json()})
    with pytest.raises(CheckpointError, match="1 missing"):
        load_model(bad)


def test_bad_metadata_is_refused(tmp_path: Path) -> None:
    model, meta, _ = make(tmp_path)
    state = model.state_dict()
    bad = tmp_path / "meta.safetensors"
    d = json.loads(meta.to_json())
    d["config"]["encoder"] = "resnet50"
    save_file(state, bad, metadata={"gun": json.dumps(d)})
    with pytest.raises(CheckpointError, match="unknown encoder"):
        load_model(bad)
    save_file(state, bad, metadata={"something": "else"})
    with pytest.raises(CheckpointError, match="not a GUN checkpoint"):
        load_model(bad)


def test_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for name in ("evil.pth", "evil.safetensors"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps({"state_dict": Payload()}))
        with pytest.raises(CheckpointError):
            load_model(path)
    assert not marker.exists()


def test_save_is_atomic(tmp_path: Path) -> None:
    model, meta, path = make(tmp_path)
    before = path.read_bytes()
    other = CheckpointMeta(**{**meta.__dict__, "config": preset("gun", encoder="efficientnet_lite0", num_classes=3)})
    with pytest.raises(ValueError):
        save_checkpoint(path, model, other)  # config mismatch: nothing written
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
