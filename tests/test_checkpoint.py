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


# ---- issue 10: metadata checked before any model is built; broken weights refused ------------------

def _with_meta(tmp_path: Path, change) -> Path:
    model, meta, _ = make(tmp_path)
    d = json.loads(meta.to_json())
    change(d)
    path = tmp_path / "changed.safetensors"
    save_file(model.state_dict(), path, metadata={"gun": json.dumps(d)})
    return path


@pytest.mark.parametrize("change, match", [
    (lambda d: d["config"].__setitem__("postproc", [40000, 128]), r"config.postproc\[0\] must be an integer in 1..2048"),
    (lambda d: d["config"].__setitem__("guidance_channels", 30000), "config.guidance_channels"),
    (lambda d: d["config"].__setitem__("guidance_channels", "32"), "config.guidance_channels"),
    (lambda d: d["config"].__setitem__("num_classes", 0), "config.num_classes"),
    (lambda d: d["config"].__setitem__("num_classes", True), "config.num_classes"),
    (lambda d: d["config"].__setitem__("scales", [1.0, float("inf")]), r"config.scales\[1\]"),
    (lambda d: d["config"].__setitem__("offset_bound", -1), "config.offset_bound"),
    (lambda d: d["config"].__setitem__("shared", "yes"), "config.shared"),
    (lambda d: d["config"].__setitem__("extra", 1), "unknown config fields"),
    (lambda d: d["palette"].__setitem__(1, [999, 0, 0]), r"palette\[1\] entries must be an integer in 0..255"),
    (lambda d: d["palette"].__setitem__(1, [1, 2]), r"palette\[1\] must be a list of 3..3"),
    (lambda d: d.__setitem__("mean", "abc"), "mean must be a list"),
    (lambda d: d.__setitem__("mean", [0.5, "x", 0.5]), r"mean\[1\] must be a finite number"),
    (lambda d: d.__setitem__("std", [0.25, 0.0, 0.25]), r"std\[1\] must be a finite positive number"),
    (lambda d: d.__setitem__("std", [0.25, float("nan"), 0.25]), r"std\[1\]"),
    (lambda d: d.__setitem__("class_names", ["a", "b"]), "class_names must be a list of 3..3"),
    (lambda d: d.__setitem__("class_names", ["a", "b", 3]), r"class_names\[2\]"),
    (lambda d: d.__setitem__("input_size", [64, 10**9]), "input_size"),
    (lambda d: d.__setitem__("metrics", []), "metrics must be an object"),
])
def test_metadata_is_validated_before_any_model_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change, match: str) -> None:
    import gun.nn.checkpoint

    path = _with_meta(tmp_path, change)

    def no_build(config: object) -> None:
        raise AssertionError("a model was built from unchecked metadata")

    monkeypatch.setattr(gun.nn.checkpoint, "build_model", no_build)
    with pytest.raises(CheckpointError, match=match) as error:
        load_model(path)
    assert "\n" not in str(error.value) and len(str(error.value)) < 300


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(tmp_path: Path, value: float) -> None:
    model, meta, _ = make(tmp_path)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["classifier.bias"][1] = value
    bad = tmp_path / "bad.safetensors"
    save_file(state, bad, metadata={"gun": meta.to_json()})
    with pytest.raises(CheckpointError, match="classifier.bias holds NaN or infinite values"):
        load_model(bad)


def test_negative_batchnorm_variance_is_refused(tmp_path: Path) -> None:
    model, meta, _ = make(tmp_path)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    name = next(k for k in state if k.endswith("running_var"))
    state[name][0] = -0.5
    bad = tmp_path / "bad.safetensors"
    save_file(state, bad, metadata={"gun": meta.to_json()})
    with pytest.raises(CheckpointError, match="negative variances"):
        load_model(bad)


def test_a_save_killed_midway_keeps_the_last_good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """save_checkpoint writes a partial file, fsyncs it and renames it: a failure (a full disk here)
    leaves the previous checkpoint intact and no partial file."""
    import gun.nn.checkpoint

    model, meta, path = make(tmp_path)
    before = path.read_bytes()

    def disk_full(state: dict, filename: str, metadata: dict) -> None:
        Path(filename).write_bytes(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gun.nn.checkpoint, "save_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, model, meta)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_a_saved_checkpoint_has_the_permissions_of_any_new_file(tmp_path: Path) -> None:
    """safetensors writes through its own 0600 temporary file; released weights must stay readable
    by others, like any file this user creates."""
    import stat

    ordinary = tmp_path / "ordinary"
    ordinary.write_text("x")
    _, _, path = make(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(ordinary.stat().st_mode)
