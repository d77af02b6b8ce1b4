"""scripts/shift_scan.py: (0, 0) is `gun eval`'s bilinear decoding, and a ground truth drawn from
the model's own map translated by a known amount is found at that translation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import pytest
import torch
from conftest import make_checkpoint

from gun.data import open_dataset
from gun.experiments.evaluate import evaluate
from gun.nn.checkpoint import load_model
from gun.runtime.frames import inference_size, prepare, to_tensor
from tests.datasets import make_camvid

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "shift_scan.py"
spec = importlib.util.spec_from_file_location("shift_scan", SCRIPT)
assert spec is not None and spec.loader is not None
shift_scan = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shift_scan)


def test_the_scan_finds_the_translation_the_ground_truth_was_drawn_with(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = make_checkpoint(tmp_path / "m.safetensors", guidance=False, input_size=(96, 144))
    root = make_camvid(tmp_path / "camvid", splits=("val",), images=2, size=(64, 96))
    model, meta = load_model(ckpt)
    data = open_dataset("camvid", root, "val")
    steps = [-0.5, 0.0, 0.5]
    # before: (0, 0) is bilinear decoding as gun eval scores it (its own frame path and metrics)
    miou = shift_scan.shift_scan(model, meta.input_size, data, [(dx, dy) for dx in steps for dy in steps])
    assert miou[(0.0, 0.0)] == pytest.approx(evaluate(ckpt, "camvid", root, "val", progress=False)["miou"], abs=1e-6)

    # the ground truth rewritten as the model's own labels with the map moved by (+0.5, -0.5) cells
    for i, name in enumerate(sorted((root / "valannot").iterdir())):
        image, labels = data.load(i)
        prep = prepare(to_tensor(image), model.mean, model.std, model.input_multiple, inference_size(labels.shape, meta.input_size))
        with torch.no_grad():
            low = model(prep.x, full=False).low_logits.float()
            moved = torch.tensor([0.5, -0.5]).view(1, 2, 1, 1).expand(1, 2, *prep.size)
            assert cv2.imwrite(str(name), model.decode(low, moved, prep.size, prep.target).argmax(1)[0].numpy().astype("uint8"))
    assert shift_scan.main(["--checkpoint", str(ckpt), "--data-root", str(root), "--steps", *map(str, steps)]) == 0
    out = capsys.readouterr().out
    assert "best: (+0.50, -0.50) 100.00" in out
    assert "| +0.00 | " in out and out.count("\n| ") == 1 + len(steps)  # header row and one row per dy


def test_a_missing_data_root_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = make_checkpoint(tmp_path / "m.safetensors", guidance=False)
    assert shift_scan.main(["--checkpoint", str(ckpt), "--data-root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shift_scan: error:") and "\n" not in err
