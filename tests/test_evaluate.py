"""`gun eval` end to end on tiny on-disk datasets with tiny random checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gun.cli import main
from gun.data import labels
from tests.datasets import CAMVID_VOID, make_camvid, make_cityscapes, save_tiny_checkpoint


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_camvid(tmp_path_factory.mktemp("camvid"), splits=("val",), images=2)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("weights")
    return {
        "gun": save_tiny_checkpoint(d / "gun.safetensors", labels.CAMVID_CLASSES, labels.CAMVID_PALETTE),
        "bilinear": save_tiny_checkpoint(d / "bilinear.safetensors", labels.CAMVID_CLASSES, labels.CAMVID_PALETTE, "bilinear"),
        "cityscapes": save_tiny_checkpoint(d / "cs.safetensors", labels.CITYSCAPES_CLASSES, labels.CITYSCAPES_PALETTE, dataset="cityscapes"),
    }


def labelled_pixels(folder: Path, ignored: set[int], limit: int | None = None) -> int:
    """Pixels of the label PNGs in folder (recursively) whose raw value is not in `ignored`."""
    files = sorted(folder.rglob("*.png"))[:limit]
    return sum(int(np.isin(cv2.imread(str(f), cv2.IMREAD_UNCHANGED), list(ignored), invert=True).sum()) for f in files)


def run_eval(*args: str) -> int:
    return main(["eval", "--device", "cpu", "--no-progress", *args])


def test_eval_both_decoders(data: Path, weights: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "eval.json"
    rc = run_eval("--checkpoint", str(weights["gun"]), "--dataset", "camvid", "--data-root", str(data), "--split", "val",
                  "--decoder", "both", "--json", str(out))
    assert rc == 0
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "Pedestrian" in printed and "GUM" in printed
    r = json.loads(out.read_text())
    for key in ("miou", "per_class", "pixel_acc", "decoder", "dataset", "split", "images", "confusion", "checkpoint"):
        assert key in r, key
    assert r["decoder"] == "both" and r["dataset"] == "camvid" and r["split"] == "val" and r["images"] == 2
    assert r["checkpoint"] == str(weights["gun"])
    assert list(r["per_class"]) == list(labels.CAMVID_CLASSES)
    assert set(r["decoders"]) == {"gum", "bilinear"}
    for d in r["decoders"].values():
        assert 0.0 <= d["miou"] <= 1.0 and 0.0 <= d["pixel_acc"] <= 1.0
        cm = np.array(d["confusion"])
        assert cm.shape == (11, 11)
        # every non-void ground-truth pixel counted once, at native resolution
        assert cm.sum() == labelled_pixels(data / "valannot", {CAMVID_VOID})
        assert d["pixel_acc"] == pytest.approx(np.trace(cm) / cm.sum())
    gum, bil = r["decoders"]["gum"], r["decoders"]["bilinear"]
    assert r["miou"] == gum["miou"]  # the top-level numbers are the GUM's
    assert r["difference"]["miou"] == pytest.approx(gum["miou"] - bil["miou"])


def test_eval_limit_and_default_decoder(data: Path, weights: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    rc = run_eval("--checkpoint", str(weights["bilinear"]), "--dataset", "camvid", "--data-root", str(data), "--split", "val",
                  "--limit", "1", "--json", str(out))
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["decoder"] == "bilinear" and r["images"] == 1 and "difference" not in r
    assert np.array(r["confusion"]).sum() == labelled_pixels(data / "valannot", {CAMVID_VOID}, limit=1)
    # "all" is every decoder the model has: for a twin, the one it has (scripts evaluate pairs alike)
    every = tmp_path / "all.json"
    assert run_eval("--checkpoint", str(weights["bilinear"]), "--dataset", "camvid", "--data-root", str(data), "--split", "val",
                    "--limit", "1", "--decoder", "all", "--json", str(every)) == 0
    assert json.loads(every.read_text())["confusion"] == r["confusion"]


def test_eval_cityscapes_layout(tmp_path: Path, weights: dict[str, Path]) -> None:
    root = make_cityscapes(tmp_path / "cs", splits=("val",))
    out = tmp_path / "eval.json"
    rc = run_eval("--checkpoint", str(weights["cityscapes"]), "--dataset", "cityscapes", "--data-root", str(root),
                  "--split", "val", "--decoder", "gum", "--json", str(out))
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["images"] == 2 and len(r["per_class"]) == 19
    # labelIds 0, 1 and 4 are ignored by the official table; the others are evaluated
    assert np.array(r["confusion"]).sum() == labelled_pixels(root / "gtFine", {0, 1, 4})


def test_eval_rejects_wrong_class_count(data: Path, weights: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    rc = run_eval("--checkpoint", str(weights["cityscapes"]), "--dataset", "camvid", "--data-root", str(data))
    assert rc == 2
    err = capsys.readouterr().err
    assert "19 classes" in err and "11" in err and "Traceback" not in err


def test_eval_rejects_gum_without_guidance(data: Path, weights: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    rc = run_eval("--checkpoint", str(weights["bilinear"]), "--dataset", "camvid", "--data-root", str(data), "--decoder", "gum")
    assert rc == 2
    assert "--decoder bilinear" in capsys.readouterr().err


def test_eval_missing_inputs(tmp_path: Path, data: Path, weights: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert run_eval("--checkpoint", str(tmp_path / "none.safetensors"), "--dataset", "camvid", "--data-root", str(data)) == 2
    assert "no such file" in capsys.readouterr().err
    assert run_eval("--checkpoint", str(weights["gun"]), "--dataset", "camvid", "--data-root", str(tmp_path)) == 2
    assert "valannot" in capsys.readouterr().err


def test_shift_decoder_is_the_gum_with_one_global_translation() -> None:
    import torch

    from gun.nn.config import preset
    from gun.nn.geometry import IDENTITY
    from gun.nn.model import GUNOutput, build_model
    from gun.runtime.frames import Prepared, decode

    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=5, scales=(1.0, 1.0))).eval()
    g = torch.Generator().manual_seed(0)
    low = torch.randn(1, 5, 8, 12, generator=g)
    size = (64, 96)
    prep = Prepared(torch.zeros(1, 3, *size), size, IDENTITY)
    # offsets on the guidance grid (stride 2): constant, then varying
    constant = torch.tensor([0.7, -0.3]).view(1, 2, 1, 1).expand(1, 2, 32, 48)
    out = GUNOutput(None, low, constant)
    assert torch.equal(decode(model, out, prep, "shift").argmax(1), decode(model, out, prep, "gum").argmax(1))
    varying = torch.rand(1, 2, 32, 48, generator=g) * 4 - 2
    out = GUNOutput(None, low, varying)
    shifted = decode(model, out, prep, "shift")
    full = model.upsample_offsets(varying, size)
    mean = full.mean((2, 3), keepdim=True).expand_as(full)
    assert torch.equal(shifted, model.decode(low, mean, size))
    assert not torch.equal(shifted.argmax(1), decode(model, out, prep, "gum").argmax(1))
