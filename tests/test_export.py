"""`gun export`: ONNX graphs (opset >= 17, the GUM as GridSample) of every kind of architecture,
multi-scale included, whose labels under ONNX Runtime equal PyTorch's; bad requests are one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import CLASS_NAMES, make_checkpoint

from gun.cli import main
from gun.experiments.export import smooth_frame
from gun.nn.checkpoint import load_model
from gun.runtime.frames import padded_size


def test_checkpoint_export_equals_pytorch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = make_checkpoint(tmp_path / "m.safetensors")
    out = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--size", "100x150", "--out", str(out), "--json", str(tmp_path / "r.json")]) == 0
    assert "labels equal to PyTorch on" in capsys.readouterr().out
    graph = onnx.load(str(out))
    onnx.checker.check_model(graph)
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert "GridSample" in {n.op_type for n in graph.graph.node}
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta["gun_mean"]) == pytest.approx(list(load_model(ckpt)[1].mean)) and meta["gun_head"] == "labels"
    # independently of the command's own check: ONNX Runtime against the checkpoint in PyTorch
    model, _ = load_model(ckpt)
    shape = padded_size(100, 150, model.input_multiple)
    x = smooth_frame(shape, seed=3)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x.numpy()})
    with torch.inference_mode():
        want = model(x).logits.argmax(1).numpy()
    assert got.shape == want.shape == (1, *shape)
    assert len(np.unique(want)) > 1 and (got == want).mean() >= 0.999
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["check"]["agreement"] >= 0.999 and report["grid_sample"] and report["input_shape"] == [1, 3, *shape]


# every kind of architecture at least once, both encoders, multi-scale ones included
ARCHS = [("baseline", "drn_d_22"), ("enc4", "efficientnet_lite0"), ("enc24", "drn_d_22"), ("enc124shared", "efficientnet_lite0"),
         ("base-concat", "drn_d_22"), ("large-rf", "efficientnet_lite0"), ("high-res", "drn_d_22"), ("gun", "efficientnet_lite0")]


@pytest.mark.parametrize("name,encoder", ARCHS)
def test_presets_export_and_check(tmp_path: Path, name: str, encoder: str) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export", "--preset", name, "--encoder", encoder, "--classes", "5", "--size", "64x64", "--out", str(out),
                 "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["check"]["agreement"] >= 0.999 and out.stat().st_size == report["bytes"]
    if name in ("large-rf", "high-res", "gun"):
        assert report["grid_sample"]  # the GUM
    assert report["preset"] == name and report["encoder"] == encoder


def test_network_head_is_what_the_backends_run(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "m.safetensors")
    out = tmp_path / "n.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--size", "64x64", "--head", "network", "--out", str(out)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["low_logits", "offsets"]
    low = session.get_outputs()[0].shape
    assert low[1] == len(CLASS_NAMES)


def test_bad_requests_are_one_line_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cases = [(["--preset", "gun", "--out", str(tmp_path / "a.txt")], "must end in .onnx"),
             (["--out", str(tmp_path / "b.onnx")], "--checkpoint"),
             (["--preset", "gun", "--encoder", "efficientnet_lite0", "--size", "64x64", "--opset", "16", "--out", str(tmp_path / "c.onnx")],
              "opset"),
             (["--checkpoint", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "d.onnx")], "no such")]
    for args, message in cases:
        assert main(["export", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0, err
    assert list(tmp_path.iterdir()) == []
