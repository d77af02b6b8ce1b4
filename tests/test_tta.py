"""Test-time augmentation (gun.runtime.tta) against passes computed by hand through gun.runtime.frames,
and `gun eval --tta`: the augmented scores come separately, the single-scale ones are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gun.cli import main
from gun.nn.checkpoint import load_model
from gun.runtime.frames import decode, frame_offsets, prepare, to_tensor
from gun.runtime.tta import TTA, scaled_input_size, segment
from tests.conftest import synthetic_frame
from tests.datasets import make_camvid


@pytest.fixture(scope="module")
def model(checkpoint: Path):
    return load_model(checkpoint, "cpu")[0]


def by_hand(model, frames: torch.Tensor, decoder: str, input_size) -> torch.Tensor:
    """One pass written out with the frame path's own steps (what `gun eval` did before TTA existed)."""
    prep = prepare(frames, model.mean, model.std, model.input_multiple, input_size)
    out = model(prep.x, full=False)
    return decode(model, out, prep, decoder, frame_offsets(model, out, prep))


def test_parse_and_describe() -> None:
    assert TTA.parse("flip") == TTA((1.0,), True)
    assert TTA.parse("0.75,1,1.25") == TTA((0.75, 1.0, 1.25), False)
    t = TTA.parse(" Flip , 0.5,1 ")
    assert t == TTA((0.5, 1.0), True) and TTA.parse(t.spec()) == t
    assert t.passes() == [(0.5, False), (0.5, True), (1.0, False), (1.0, True)]
    assert "horizontal flip" in t.describe() and "4 passes" in t.describe()
    assert TTA.parse("1").is_single and not TTA.parse("flip").is_single
    for bad, says in (("mirror", "flip and/or scales"), ("0", "outside"), ("1,1", "repeat"), ("", "flip and/or scales"),
                      ("nan", "outside"), ("9", "outside")):
        with pytest.raises(ValueError, match=says):
            TTA.parse(bad)


def test_scaled_input_size() -> None:
    assert scaled_input_size((360, 480), (360, 480), 1.0) == (360, 480)
    assert scaled_input_size((360, 480), None, 1.0) is None  # exactly the single-scale pass
    assert scaled_input_size((360, 480), (360, 480), 0.5) == (180, 240)
    assert scaled_input_size((720, 960), (360, 480), 1.5) == (540, 720)  # the frame's run size, scaled
    assert scaled_input_size((61, 93), None, 2.0) == (122, 186)  # native: the frame's own size, scaled


@torch.inference_mode()
def test_single_scale_is_the_plain_frame_path(model) -> None:
    frames = to_tensor(synthetic_frame(1, (61, 93)))
    for size in (None, (48, 64)):
        seg = segment(model, frames, ("gum", "bilinear"), size)
        for d in ("gum", "bilinear"):
            assert seg.logits[d].shape == (1, 11, 61, 93)
            assert torch.equal(seg.logits[d], by_hand(model, frames, d, size))
            assert seg.single[d] is seg.logits[d]
        assert seg.offsets is not None and seg.offsets.shape == (1, 2, 61, 93)
    # the identity TTA computes nothing more
    assert torch.equal(segment(model, frames, ("gum",), None, TTA()).logits["gum"], by_hand(model, frames, "gum", None))


@torch.inference_mode()
def test_flip_and_scales_average_the_passes_at_frame_pixels(model) -> None:
    frames = to_tensor(synthetic_frame(3, (61, 93)))
    size = (48, 64)
    seg = segment(model, frames, ("gum", "bilinear"), size, TTA((0.75, 1.0, 1.5), flip=True))
    for d in ("gum", "bilinear"):
        passes = []
        for s in (0.75, 1.0, 1.5):
            run = (round(48 * s), round(64 * s))
            passes.append(by_hand(model, frames, d, run))
            passes.append(by_hand(model, frames.flip(-1), d, run).flip(-1))
        expected = torch.stack(passes).mean(0)
        assert seg.logits[d].shape == (1, 11, 61, 93)
        torch.testing.assert_close(seg.logits[d], expected, rtol=0, atol=1e-5)
        assert torch.equal(seg.single[d], by_hand(model, frames, d, size))  # the paper's protocol, kept apart
        assert not torch.equal(seg.logits[d], seg.single[d])
    # the offsets are the single-scale pass's
    assert torch.equal(seg.offsets, segment(model, frames, ("gum",), size).offsets)


@torch.inference_mode()
def test_flip_tta_is_mirror_symmetric(model) -> None:
    """Averaging a frame with its mirror image makes the prediction commute with mirroring (exactly)."""
    frames = to_tensor(synthetic_frame(5, (64, 96)))
    flip = TTA(flip=True)
    a = segment(model, frames, ("gum",), (48, 64), flip).logits["gum"]
    b = segment(model, frames.flip(-1), ("gum",), (48, 64), flip).logits["gum"]
    torch.testing.assert_close(a, b.flip(-1), rtol=0, atol=1e-6)
    plain = segment(model, frames, ("gum",), (48, 64)).logits["gum"]
    plain_mirror = segment(model, frames.flip(-1), ("gum",), (48, 64)).logits["gum"]
    assert not torch.allclose(plain, plain_mirror.flip(-1), atol=1e-3)  # without TTA it does not


def test_eval_reports_tta_separately(tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    data = make_camvid(tmp_path / "camvid", splits=("val",), images=2)
    common = ["eval", "--checkpoint", str(checkpoint), "--dataset", "camvid", "--data-root", str(data), "--split", "val",
              "--device", "cpu", "--no-progress", "--decoder", "both"]
    assert main([*common, "--json", str(tmp_path / "plain.json")]) == 0
    plain_table = capsys.readouterr().out
    assert main([*common, "--tta", "flip,0.75,1", "--json", str(tmp_path / "tta.json")]) == 0
    tta_table = capsys.readouterr().out
    plain, tta = json.loads((tmp_path / "plain.json").read_text()), json.loads((tmp_path / "tta.json").read_text())
    assert "tta" not in plain and plain["protocol"].startswith("single-scale")
    assert any(line.startswith("single-scale (the paper's protocol)") for line in plain_table.splitlines())
    # the single-scale figures do not move when TTA is asked for; TTA's come on their own
    assert tta["decoders"] == plain["decoders"] and tta["miou"] == plain["miou"]
    assert tta["tta"]["spec"] == "flip,0.75,1" and set(tta["tta"]["decoders"]) == {"gum", "bilinear"}
    for d in ("gum", "bilinear"):
        aug = tta["tta"]["decoders"][d]
        assert np.array(aug["confusion"]).sum() == np.array(plain["decoders"][d]["confusion"]).sum()
        assert tta["tta"]["gain_miou"][d] == pytest.approx(aug["miou"] - plain["decoders"][d]["miou"])
    assert tta["tta"]["decoders"]["gum"]["confusion"] != plain["decoders"]["gum"]["confusion"]
    head = tta_table.splitlines()[1]
    assert "GUM+TTA" in head and "bil.+TTA" in head
    protocol = next(line for line in tta_table.splitlines() if "paper's protocol" in line)
    assert "4 passes" in protocol


def test_eval_rejects_a_bad_tta(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main(["eval", "--checkpoint", str(checkpoint), "--dataset", "camvid", "--data-root", str(tmp_path), "--tta", "mirror"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "flip and/or scales" in err and "Traceback" not in err
