"""One frame path: `gun eval` scores exactly the labels the app shows, on frames of awkward sizes,
at the checkpoint's input size and at the frame's own size."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from gun.cli import main
from gun.nn.checkpoint import load_model, save_checkpoint
from gun.runtime.segmenter import Segmenter
from tests.conftest import CLASS_NAMES, synthetic_frame

SIZES = [(361, 479), (97, 130), (64, 96)]


def scene(i: int, size: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(i)
    frame = synthetic_frame(i, size).astype(np.int16) + rng.integers(-40, 40, (*size, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("input_size", [(64, 96), None], ids=["model-size", "frame-size"])
def test_eval_scores_the_apps_labels_perfectly(checkpoint: Path, tmp_path: Path, input_size: tuple[int, int] | None) -> None:
    model, meta = load_model(checkpoint)
    weights = tmp_path / "w.safetensors"
    save_checkpoint(weights, model, replace(meta, input_size=input_size, dataset="camvid"))
    seg = Segmenter.from_checkpoint(weights, device="cpu", dtype="float32", backend="torch")
    root = tmp_path / "camvid"
    (root / "val").mkdir(parents=True)
    (root / "valannot").mkdir()
    for i, size in enumerate(SIZES):
        rgb = scene(i, size)
        labels = seg(rgb).labels_gum
        assert labels.shape == size
        assert len(np.unique(labels)) > 1  # a real map, not one class
        cv2.imwrite(str(root / "val" / f"f{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "valannot" / f"f{i}.png"), labels)
    report = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(weights), "--dataset", "camvid", "--data-root", str(root), "--split", "val",
                 "--decoder", "gum", "--device", "cpu", "--no-progress", "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["pixel_acc"] == 1.0 and r["miou"] == 1.0
    assert r["class_names"] == list(CLASS_NAMES)
