"""The committed default weights really segment, and their output does not drift unnoticed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gun.data import open_dataset
from gun.experiments.evaluate import evaluate_confusion
from gun.metrics.confusion import scores
from gun.nn.checkpoint import load_model
from gun.nn.model import build_model
from gun.runtime.frames import decode, prepare, to_tensor

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "weights" / "gun_effnet_camvid.safetensors"
FAST = ROOT / "weights" / "gun_effnet_camvid_fast.safetensors"
CAMVID = ROOT.parent / "shared" / "data" / "camvid"
GOLDEN_FRAME = ROOT / "assets" / "leuvenA.jpg"
GOLDEN = ROOT / "tests" / "golden" / "leuvenA_gun_effnet_camvid_labels.png"


def labels_of(path: Path) -> np.ndarray:
    """GUM-decoded labels of one image with the default weights, at the image's own size, run at the
    checkpoint's input size (the one frame path of gun.runtime.frames)."""
    model, meta = load_model(DEFAULT)
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    with torch.inference_mode():
        prep = prepare(to_tensor(rgb), meta.mean, meta.std, model.input_multiple, meta.input_size)
        logits = decode(model, model(prep.x, full=False), prep)
    return logits.argmax(1)[0].numpy().astype(np.uint8)


def test_default_weights_are_a_valid_camvid_checkpoint() -> None:
    _model, meta = load_model(DEFAULT)
    assert meta.dataset == "camvid" and meta.config.guidance == "fusion" and meta.config.encoder == "efficientnet_lite0"
    assert len(meta.class_names) == 11 and "CC BY-NC" in meta.licence
    assert meta.command.startswith(("gun train", "gun distill")) and meta.input_size == (540, 720)
    assert DEFAULT.stat().st_size < 12 * 2**20  # stored as float16


@pytest.mark.skipif(not CAMVID.is_dir(), reason="needs ../shared/data/camvid")
def test_default_weights_segment_real_frames_far_better_than_random_weights() -> None:
    model, meta = load_model(DEFAULT)
    val = open_dataset("camvid", CAMVID, "val")
    val.pairs = val.pairs[::20]  # 6 frames spread over the split
    trained = scores(evaluate_confusion(model, val, 11, ("gum",), progress=False, input_size=meta.input_size)["gum"]).miou
    torch.manual_seed(0)
    random_model = build_model(meta.config).eval()
    chance = scores(evaluate_confusion(random_model, val, 11, ("gum",), progress=False, input_size=meta.input_size)["gum"]).miou
    assert trained > 0.5, trained
    assert chance < 0.15, chance


def test_golden_output_on_a_committed_asset_frame() -> None:
    got = labels_of(GOLDEN_FRAME)
    golden = cv2.imread(str(GOLDEN), cv2.IMREAD_UNCHANGED)
    assert golden is not None and got.shape == golden.shape
    # identical up to float rounding on another CPU: allow a few boundary pixels to flip
    assert (got != golden).mean() < 0.002
    assert len(np.unique(golden)) >= 4  # the golden frame shows a real scene, not one class


def test_the_fast_weights_are_the_default_network_with_a_pooled_guidance_module() -> None:
    # both had only their guidance module trained from the same GUN: every other tensor is shared, so
    # the low-resolution logits (and the bilinear decoding) are the same; only the offsets differ
    default, default_meta = load_model(DEFAULT)
    fast, fast_meta = load_model(FAST)
    config = fast_meta.config
    assert (config.guidance_pool, config.guidance_channels, config.guidance_subpixel) == (4, 16, True)
    assert default_meta.config.guidance_pool == 1 and fast_meta.input_size == default_meta.input_size
    theirs = default.state_dict()
    shared = [k for k in fast.state_dict() if not k.startswith("guidance.")]
    assert shared and all(torch.equal(fast.state_dict()[k], theirs[k]) for k in shared)
    rgb = cv2.cvtColor(cv2.imread(str(GOLDEN_FRAME)), cv2.COLOR_BGR2RGB)
    with torch.inference_mode():
        prep = prepare(to_tensor(rgb), fast_meta.mean, fast_meta.std, fast.input_multiple, fast_meta.input_size)
        a, b = default(prep.x, full=False), fast(prep.x, full=False)
        assert torch.equal(a.low_logits, b.low_logits) and a.offsets is not None and b.offsets is not None
        assert a.offsets.shape == b.offsets.shape  # subpixel: offsets on the guide's own grid, as the default's
        same = (decode(default, a, prep).argmax(1) == decode(fast, b, prep).argmax(1)).float().mean()
    assert 0.9 < float(same) < 1.0  # the two guidance modules steer alike, not identically
