"""The trimap experiment: band masks on shapes with known distances, band scores worked out by
hand, and `gun trimap` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from gun.cli import main
from gun.data import labels, open_dataset
from gun.data.labels import IGNORE
from gun.metrics.boundary import band_confusion, band_mious, boundary_distance
from gun.metrics.confusion import scores
from tests.datasets import make_camvid, save_tiny_checkpoint


def band_masks(label: np.ndarray, bands: list[int]) -> np.ndarray:
    """(B, H, W): the pixels within each band, from the library's distance."""
    dist = boundary_distance(label)
    return np.stack([dist <= b for b in bands])

def square(size: int = 40, lo: int = 10, hi: int = 30) -> np.ndarray:
    lab = np.zeros((size, size), np.uint8)
    lab[lo:hi, lo:hi] = 1
    return lab


def halves(size: int = 40) -> np.ndarray:
    """Class 0 in rows 0-19, class 1 in rows 20-39: one straight horizontal boundary."""
    lab = np.zeros((size, size), np.uint8)
    lab[size // 2:] = 1
    return lab


# ---- distances and bands -------------------------------------------------------------------

def test_distances_around_a_square() -> None:
    d = boundary_distance(square())
    assert d[10, 20] == 1 and d[9, 20] == 1  # both sides of the top edge
    assert d[14, 20] == 5 and d[5, 20] == 5
    assert d[8, 8] == pytest.approx(math.sqrt(8), abs=1e-3)  # diagonal to the corner (10, 10)
    assert d[0, 0] == pytest.approx(math.sqrt(200), abs=1e-3)  # the image border is no boundary


def test_distances_equal_brute_force_on_random_maps() -> None:
    """Each pixel's distance to the nearest pixel of another label (ignore included), written out,
    on maps with thin and compact classes, ignore, and classes touching the border."""
    rng = np.random.default_rng(3)
    for _ in range(25):
        h, w = rng.integers(4, 14, 2)
        lab = cv2.resize(rng.integers(0, 4, (h, w)).astype(np.uint8), (int(w) * 3, int(h) * 2), interpolation=cv2.INTER_NEAREST)
        lab[rng.random(lab.shape) < 0.03] = 255
        lab[:, rng.integers(0, lab.shape[1])] = 5  # a one-pixel-wide pole
        ys, xs = np.indices(lab.shape)
        want = np.full(lab.shape, np.inf)
        for y, x in zip(ys.ravel(), xs.ravel()):
            other = lab != lab[y, x]
            if lab[y, x] != 255 and other.any():
                want[y, x] = np.sqrt(((ys[other] - y) ** 2 + (xs[other] - x) ** 2).min())
        np.testing.assert_allclose(boundary_distance(lab), want, rtol=1e-6)


@pytest.mark.parametrize("depth", range(8))
def test_band_membership_by_depth(depth: int) -> None:
    bands = [1, 2, 3, 4, 6, 8]
    masks = band_masks(square(), bands)
    for row in (10 + depth, 9 - depth):  # inside and outside the square, middle column
        for b, mask in zip(bands, masks):
            assert mask[row, 20] == (b >= depth + 1), (row, b)


def test_bands_are_nested_and_count_pixels() -> None:
    masks = band_masks(halves(), [1, 2, 5])
    assert [int(m.sum()) for m in masks] == [2 * 40, 4 * 40, 10 * 40]  # d rows on each side
    assert (masks[0] <= masks[1]).all() and (masks[1] <= masks[2]).all()


def test_ignore_is_excluded_but_its_edge_is_a_boundary() -> None:
    lab = halves()
    lab[:3] = 255
    d = boundary_distance(lab)
    assert np.isinf(d[:3]).all()
    assert d[3, 5] == 1  # class 0 next to the ignore strip
    assert not band_masks(lab, [40])[0, :3].any()


def test_one_class_has_no_boundary() -> None:
    assert not band_masks(np.full((16, 16), 3, np.uint8), [1, 8]).any()


# ---- band scores ---------------------------------------------------------------------------

def test_perfect_prediction_scores_one_in_every_band(tmp_path: Path) -> None:
    ds = open_dataset("camvid", make_camvid(tmp_path, splits=("val",)), "val")
    bands = list(range(1, 13))
    cms = sum(band_confusion(boundary_distance(lab), lab, lab, bands, 11) for _, lab in map(ds.load, range(len(ds))))
    assert band_mious(cms) == [1.0] * len(bands)


def test_wrong_boundary_row_hurts_narrow_bands_most() -> None:
    target = halves()
    pred = target.copy()
    pred[20] = 0  # the first row of class 1 predicted as class 0
    cms = band_confusion(boundary_distance(target), target, pred, [1, 2, 4, 40], 2)
    # band 1 = rows 19 (class 0, right) and 20 (class 1, wrong): IoU 40/80 and 0/40
    # band 2 = rows 18-21: class 0 80/120, class 1 40/80; band 4 = rows 16-23: 160/200 and 120/160
    assert band_mious(cms) == pytest.approx([0.25, (2 / 3 + 0.5) / 2, (0.8 + 0.75) / 2, (800 / 840 + 760 / 800) / 2])
    assert cms.sum(axis=(1, 2)).tolist() == [80, 160, 320, 1600]
    assert scores(cms[-1]).miou == band_mious(cms)[-1]


def test_band_confusion_checks_its_bands() -> None:
    lab = halves()
    with pytest.raises(ValueError, match="increasing"):
        band_confusion(boundary_distance(lab), lab, lab, [4, 2], 2)


def test_predictions_on_ignored_pixels_are_not_scored_and_bad_ones_elsewhere_are_refused() -> None:
    target = halves()
    target[:5] = IGNORE
    pred = target.copy()
    pred[:5] = 200  # any value on ignored pixels: not scored
    cms = band_confusion(boundary_distance(target), target, pred, [1, 40], 2)
    assert cms[-1].sum() == int((target != IGNORE).sum()) and np.trace(cms[-1]) == cms[-1].sum()
    pred[10, 3] = 2  # a labelled pixel predicted as a class the 2-class model does not have
    with pytest.raises(ValueError, match=r"labels outside 0\.\.1"):
        band_confusion(boundary_distance(target), target, pred, [1, 40], 2)


# ---- the command ---------------------------------------------------------------------------

def test_trimap_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = make_camvid(tmp_path / "camvid", splits=("val",), images=2)
    gun = save_tiny_checkpoint(tmp_path / "gun.safetensors", labels.CAMVID_CLASSES, labels.CAMVID_PALETTE)
    twin = save_tiny_checkpoint(tmp_path / "bilinear.safetensors", labels.CAMVID_CLASSES, labels.CAMVID_PALETTE, "bilinear", seed=1)
    png, out = tmp_path / "plots" / "trimap.png", tmp_path / "trimap.json"
    rc = main(["trimap", "--checkpoint", str(gun), "--checkpoint2", str(twin), "--dataset", "camvid", "--data-root", str(data),
               "--split", "val", "--out", str(png), "--json", str(out), "--max-band", "8", "--device", "cpu", "--no-progress"])
    assert rc == 0
    assert "gun GUM" in capsys.readouterr().out
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 200
    r = json.loads(out.read_text())
    assert r["bands"] == list(range(1, 9)) and r["images"] == 2
    assert list(r["curves"]) == ["gun GUM", "gun bilinear", "bilinear bilinear"]
    assert r["pixels"] == sorted(r["pixels"]) and 0 < r["pixels"][0] < r["pixels"][-1] <= r["pixels_total"]
    for c in r["curves"].values():
        assert len(c["miou"]) == 8 and all(0.0 <= v <= 1.0 for v in c["miou"])
    assert r["curves"]["gun GUM"]["decoder"] == "gum" and r["curves"]["bilinear bilinear"]["decoder"] == "bilinear"


def test_trimap_rejects_a_bad_band(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = make_camvid(tmp_path / "camvid", splits=("val",), images=1)
    gun = save_tiny_checkpoint(tmp_path / "gun.safetensors", labels.CAMVID_CLASSES, labels.CAMVID_PALETTE)
    rc = main(["trimap", "--checkpoint", str(gun), "--dataset", "camvid", "--data-root", str(data), "--out",
               str(tmp_path / "t.png"), "--max-band", "0", "--no-progress"])
    assert rc == 2 and "--max-band" in capsys.readouterr().err


def test_offset_lengths_near_and_away_from_boundaries() -> None:
    from gun.metrics.boundary import OffsetsNearBoundaries

    lab = np.zeros((20, 20), np.uint8)
    lab[:, 10:] = 1  # one vertical boundary between columns 9 and 10
    shift = np.stack([np.full((20, 20), 0.5), np.zeros((20, 20))])
    stats = OffsetsNearBoundaries(near=3)
    stats.update(shift, lab)
    r = stats.report()
    assert r["near_boundary"] == pytest.approx(0.5) and r["elsewhere"] == pytest.approx(0.5) and r["ratio"] == pytest.approx(1.0)
    steer = np.zeros((2, 20, 20))
    steer[1, :, 7:13] = 2.0  # columns within 3 px of the edge: 7..12
    stats = OffsetsNearBoundaries(near=3)
    stats.update(steer, lab)
    assert stats.report()["elsewhere"] == 0.0 and stats.report()["near_boundary"] == pytest.approx(2.0)
    # by distance: columns 9 and 10 are 1 px from the edge, 8 and 11 are 2 px, 7 and 12 are 3 px
    profile = stats.report()["profile"]
    assert profile["<=1"] == profile["<=2"] == profile["<=3"] == pytest.approx(2.0)
    assert profile["<=5"] == profile["<=8"] == profile["<=12"] == 0.0 and profile[">40"] is None
    lab[0, 0] = 255  # ignored pixels count nowhere
    stats = OffsetsNearBoundaries(near=3)
    stats.update(shift, lab)
    assert stats.counts.sum() == 399
