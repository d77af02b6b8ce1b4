"""Datasets on disk (Cityscapes and CamVid layouts) and the augmentations."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gun.data import open_dataset
from gun.data.labels import CAMVID_CLASSES as CAMVID_NAMES
from gun.data.labels import CITYSCAPES_CLASSES as CITYSCAPES_NAMES
from gun.data.labels import LABEL_ID_TO_TRAIN_ID
from gun.data.transforms import Augmentation, Compose, random_crop, random_scale
from tests.datasets import (
    CAMVID_VOID,
    camvid_colour,
    make_camvid,
    make_cityscapes,
    write_cityscapes_pair,
)


@pytest.fixture(scope="module")
def camvid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_camvid(tmp_path_factory.mktemp("camvid"))


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cityscapes(tmp_path_factory.mktemp("cityscapes"))


# ---- Cityscapes labelIds -> trainIds -------------------------------------------------------------

def test_label_table_matches_cityscapesscripts() -> None:
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    for label in labels.labels:
        if label.id < 0:
            continue  # license plate: not in labelId images
        expected = label.trainId if 0 <= label.trainId < 255 else 255
        assert LABEL_ID_TO_TRAIN_ID[label.id] == expected, label.name
    names = [lab.name for lab in sorted(labels.labels, key=lambda lab: lab.trainId) if 0 <= lab.trainId < 255]
    assert list(CITYSCAPES_NAMES) == names


@pytest.mark.parametrize(("label_id", "train_id"), [(7, 0), (26, 13), (0, 255), (33, 18), (24, 11), (9, 255), (29, 255)])
def test_hand_picked_train_ids(label_id: int, train_id: int) -> None:
    assert LABEL_ID_TO_TRAIN_ID[label_id] == train_id


def test_cityscapes_reads_train_ids(tmp_path: Path) -> None:
    ids = np.array([[7, 26], [0, 33]], np.uint8).repeat(8, axis=0).repeat(8, axis=1)
    write_cityscapes_pair(tmp_path, "val", "lindau", "lindau_000000_000019", ids)
    ds = open_dataset("cityscapes", tmp_path, "val")
    assert len(ds) == 1 and ds.num_classes == 19
    _, lab = ds.load(0)
    assert lab.dtype == np.uint8
    np.testing.assert_array_equal(lab[::8, ::8], [[0, 13], [255, 18]])
    x, y = ds[0]
    assert x.shape == (3, 16, 16) and y.shape == (16, 16)
    assert y[0, 0] == 0 and y[15, 15] == 18 and y[15, 0] == 255


def test_cityscapes_fixture_layout_and_items(cityscapes: Path) -> None:
    ds = open_dataset("cityscapes", cityscapes, "val")
    assert len(ds) == 2  # one image in each of the two cities
    img, lab = ds.load(1)
    x, y = ds[1]
    # items stay uint8 RGB (normalised later, on the device, by gun.runtime.frames)
    assert x.dtype == torch.uint8 and np.array_equal(x.permute(1, 2, 0).numpy(), img)
    assert np.array_equal(y.numpy(), lab)


def test_camvid_void_is_ignored(camvid: Path) -> None:
    ds = open_dataset("camvid", camvid, "val")
    assert ds.class_names == CAMVID_NAMES and len(ds) == 3
    raw = cv2.imread(str(min((camvid / "valannot").glob("*.png"))), cv2.IMREAD_UNCHANGED)
    _, lab = ds.load(0)
    assert (raw == CAMVID_VOID).any()
    np.testing.assert_array_equal(lab[raw == CAMVID_VOID], 255)
    np.testing.assert_array_equal(lab[raw != CAMVID_VOID], raw[raw != CAMVID_VOID])


# ---- errors that say what is wrong -------------------------------------------------------------

def test_wrong_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="leftImg8bit"):
        open_dataset("cityscapes", tmp_path / "nowhere", "val")
    with pytest.raises(FileNotFoundError, match="annot"):
        open_dataset("camvid", tmp_path / "nowhere", "val")


def test_missing_split(camvid: Path, cityscapes: Path) -> None:
    with pytest.raises(FileNotFoundError, match="'test'"):
        open_dataset("camvid", camvid, "test")
    with pytest.raises(FileNotFoundError, match="'test'"):
        open_dataset("cityscapes", cityscapes, "test")


def test_missing_label_and_unknown_dataset(tmp_path: Path) -> None:
    root = make_camvid(tmp_path / "camvid", splits=("val",), images=2)
    next((root / "valannot").glob("*.png")).unlink()
    with pytest.raises(FileNotFoundError, match="label"):
        open_dataset("camvid", root, "val")
    with pytest.raises(ValueError, match="unknown dataset"):
        open_dataset("pascal", root, "val")


# ---- augmentations keep image and label aligned --------------------------------------------------

def _aligned_fraction(img: np.ndarray, lab: np.ndarray) -> tuple[int, float]:
    """(pixels checked, fraction whose colour is their label's colour), over the pixels inside a
    flat 5x5 label patch (resampling blends colours only across cell edges)."""
    kernel = np.ones((5, 5), np.uint8)
    flat = (cv2.erode(lab, kernel) == cv2.dilate(lab, kernel)) & (lab != 255)
    ys, xs = np.nonzero(flat)
    expected = np.array([camvid_colour(int(v)) for v in lab[ys, xs]], np.int16)
    ok = np.abs(img[ys, xs].astype(np.int16) - expected).max(axis=1) <= 3
    return len(ys), float(ok.mean()) if len(ys) else 0.0


@pytest.mark.parametrize("seed", range(6))
def test_scale_crop_flip_keep_alignment(camvid: Path, seed: int) -> None:
    ds = open_dataset("camvid", camvid, "train")
    img, lab = ds.load(seed % len(ds))
    aug = Compose(Augmentation(crop=(48, 64), scale=(0.5, 2.0), flip=True), seed=seed)
    out_img, out_lab = aug(img, lab)
    assert out_img.shape == (48, 64, 3) and out_lab.shape == (48, 64)
    checked, fraction = _aligned_fraction(out_img, out_lab)
    assert checked > 100 and fraction == 1.0


def test_alignment_check_catches_a_misaligned_flip(camvid: Path) -> None:
    img, lab = open_dataset("camvid", camvid, "train").load(0)
    _, fraction = _aligned_fraction(np.ascontiguousarray(img[:, ::-1]), lab)
    assert fraction < 0.5


def test_crop_pads_label_with_ignore() -> None:
    img = np.full((20, 30, 3), 100, np.uint8)
    lab = np.full((20, 30), 4, np.uint8)
    out_img, out_lab = random_crop(img, lab, (32, 40), np.random.default_rng(0))
    assert out_img.shape == (32, 40, 3) and out_lab.shape == (32, 40)
    assert (out_lab[:20, :30] == 4).all()  # a smaller image is never shifted: padding goes bottom/right
    assert (out_lab[20:] == 255).all() and (out_lab[:, 30:] == 255).all()
    assert (out_img == 100).all()  # the image is reflection-padded, not zero-padded


def test_random_scale_keeps_labels_nearest() -> None:
    lab = np.kron(np.array([[1, 2], [3, 4]], np.uint8), np.ones((10, 10), np.uint8))
    img = np.zeros((20, 20, 3), np.uint8)
    out_img, out_lab = random_scale(img, lab, 1.5)
    assert out_img.shape[:2] == out_lab.shape == (30, 30)
    assert set(np.unique(out_lab)) == {1, 2, 3, 4}  # nearest: no blended label values
