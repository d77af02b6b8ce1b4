"""Confusion matrices and scores against hand-computed answers; a perfect prediction scores 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from gun.data import open_dataset
from gun.data.labels import CAMVID_CLASSES as CLASS_NAMES
from gun.experiments.evaluate import evaluate_confusion
from gun.metrics.boundary import boundary_distance
from gun.metrics.confusion import confusion_matrix, scores
from gun.nn.geometry import IDENTITY
from gun.nn.model import GUN, GUNOutput
from tests.datasets import camvid_colour, make_camvid


def test_scores_on_a_hand_built_confusion_matrix() -> None:
    # rows = ground truth, columns = prediction
    cm = np.array([[3, 1, 0, 0],
                   [0, 2, 2, 0],
                   [0, 0, 0, 0],
                   [0, 0, 0, 0]])
    s = scores(cm)
    # class 0: tp 3, union 4 + 3 - 3 = 4; class 1: tp 2, union 4 + 3 - 2 = 5; class 2: tp 0, union 2;
    # class 3 absent from ground truth and prediction: NaN, left out of the mean
    np.testing.assert_allclose(s.iou[:3], [0.75, 0.4, 0.0])
    assert np.isnan(s.iou[3])
    assert s.miou == pytest.approx((0.75 + 0.4 + 0.0) / 3)
    assert s.pixel_acc == pytest.approx(5 / 8)


def test_confusion_matrix_skips_ignore() -> None:
    target = torch.tensor([[0, 1, 255], [2, 2, 1]])
    pred = torch.tensor([[0, 2, 1], [2, 0, 1]])
    cm = confusion_matrix(pred, target, 3)
    expected = [[1, 0, 0],
                [0, 1, 1],
                [1, 0, 1]]
    assert cm.tolist() == expected
    assert cm.sum() == 5  # the ignored pixel is not counted


def test_confusion_matrix_counts_every_pair_on_random_uint8_maps() -> None:
    rng = np.random.default_rng(5)
    for shape in [(36, 48), (2, 7, 9), (1,)]:
        target = rng.integers(0, 11, shape).astype(np.uint8)
        target[rng.random(shape) < 0.1] = 255
        pred = rng.integers(0, 11, shape).astype(np.uint8)
        expected = np.zeros((11, 11), np.int64)
        for t, p in zip(target.ravel(), pred.ravel()):
            if t != 255:
                expected[t, p] += 1
        cm = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), 11)
        assert cm.dtype == torch.int64 and cm.numpy().tolist() == expected.tolist()


def test_ground_truth_as_prediction_scores_one(tmp_path: Path) -> None:
    ds = open_dataset("camvid", make_camvid(tmp_path), "val")
    cm = sum(confusion_matrix(torch.from_numpy(lab), torch.from_numpy(lab), 11) for _, lab in map(ds.load, range(len(ds))))
    s = scores(cm)
    assert s.miou == 1.0 and s.pixel_acc == 1.0
    assert np.isfinite(s.iou).sum() >= 8  # the fixture uses most classes


class Oracle(nn.Module):
    """A "model" that reads each pixel's class back from its colour (the fixture paints classes)
    and returns one-hot logits at full resolution, through the GUN output interface."""

    decode = GUN.decode
    upsample_offsets = GUN.upsample_offsets
    guidance = None
    offsets_grid = None
    logits_grid = IDENTITY  # full-resolution "logits": one cell per input pixel
    input_multiple = 1

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.mean, self.std = mean, std
        self.register_buffer("m", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("s", torch.tensor(std).view(1, 3, 1, 1))
        self.register_buffer("colours", torch.tensor([camvid_colour(c) for c in range(len(CLASS_NAMES))], dtype=torch.float32))

    def forward(self, x: Tensor, full: bool = True) -> GUNOutput:
        rgb = (x * self.s + self.m) * 255  # (1, 3, H, W)
        dist = (rgb.unsqueeze(1) - self.colours.view(1, -1, 3, 1, 1)).abs().sum(2)  # (1, C, H, W)
        return GUNOutput(None, -dist, None)


def test_evaluate_confusion_with_a_perfect_model(tmp_path: Path) -> None:
    mean, std = (0.3, 0.4, 0.5), (0.2, 0.3, 0.25)
    ds = open_dataset("camvid", make_camvid(tmp_path), "val")
    cms = evaluate_confusion(Oracle(mean, std), ds, 11, ("gum", "bilinear"), progress=False)  # type: ignore[arg-type]
    for cm in cms.values():
        s = scores(cm)
        assert s.miou == pytest.approx(1.0) and s.pixel_acc == pytest.approx(1.0)
        void = sum(int((ds.load(i)[1] == 255).sum()) for i in range(len(ds)))
        assert cm.sum() == 3 * 64 * 96 - void


def test_running_scores_add_up_frames_and_reuse_a_given_distance_map() -> None:
    from gun.data.labels import IGNORE
    from gun.metrics.boundary import boundary_distance, ring_index
    from gun.metrics.running import RunningScores
    from gun.runtime.result import FrameResult

    def miou(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
        """Written out: per class tp / (gt + pred - tp) over the labelled pixels of all pairs."""
        ious = []
        for c in range(3):
            tp = sum(int(((p == c) & (g == c)).sum()) for p, g in pairs)
            union = sum(int((((p == c) | (g == c)) & (g != IGNORE)).sum()) for p, g in pairs)
            if union:
                ious.append(tp / union)
        return float(np.mean(ious))

    rng = np.random.default_rng(3)
    truth = [rng.integers(0, 3, (9, 12)).astype(np.uint8) for _ in range(2)]
    truth[1][0, :4] = IGNORE
    gum = [np.where(rng.random(t.shape) < 0.8, t, rng.integers(0, 3, t.shape)).astype(np.uint8) for t in truth]
    bil = [np.where(rng.random(t.shape) < 0.6, t, rng.integers(0, 3, t.shape)).astype(np.uint8) for t in truth]

    def result(i: int) -> FrameResult:
        return FrameResult(gum[i], bil[i], None, np.zeros((3, 2, 2), np.float32), (1, 1, 0, 0), ground_truth=truth[i])

    computed, given = RunningScores(3), RunningScores(3)
    for i in range(2):
        a = computed.update(result(i))
        assert computed.last_rings is not None
        np.testing.assert_array_equal(computed.last_rings, ring_index(boundary_distance(truth[i]), truth[i], computed.bands, 3))
        b = given.update(result(i), computed.last_rings)
        assert a == b and computed.trimap() == given.trimap()
        assert a["miou_gum"] == pytest.approx(miou([(gum[i], truth[i])]))
        assert a["miou_bilinear"] == pytest.approx(miou([(bil[i], truth[i])]))
    assert a["running_miou_gum"] == pytest.approx(miou(list(zip(gum, truth))))
    assert a["running_miou_bilinear"] == pytest.approx(miou(list(zip(bil, truth))))
    far = RunningScores(3)  # a given map is used as it is: every pixel 1000 px from a boundary is in no band
    far.update(result(0), ring_index(np.full(truth[0].shape, 1000.0, np.float32), truth[0], far.bands, 3))
    assert far.trimap()["gum"] == [None] * len(far.bands)
    assert RunningScores(3).update(FrameResult(gum[0], bil[0], None, np.zeros((3, 2, 2), np.float32), (1, 1, 0, 0))) == {}


def test_running_scores_keep_a_frames_rings_for_its_replays_and_forget_them_on_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    from gun.metrics import running
    from gun.metrics.running import RunningScores
    from gun.runtime.result import FrameResult

    rng = np.random.default_rng(5)
    truth = [rng.integers(0, 3, (9, 12)).astype(np.uint8), rng.integers(0, 3, (7, 10)).astype(np.uint8)]
    made = []  # the boundary distances computed: what the cache saves
    monkeypatch.setattr(running, "boundary_distance", lambda t: made.append(t.shape) or boundary_distance(t))

    def result(t: np.ndarray) -> FrameResult:
        pred = rng.integers(0, 3, t.shape).astype(np.uint8)
        return FrameResult(pred, pred, None, np.zeros((3, 2, 2), np.float32), (1, 1, 0, 0), ground_truth=t)

    kept, plain = RunningScores(3), RunningScores(3, ring_cache_bytes=0)
    for t in (truth[0], truth[0], truth[0]):  # a looping one-frame clip
        r = result(t)
        assert kept.update(r, frame_index=0) == plain.update(r, frame_index=0)
    assert kept.trimap() == plain.trimap() and made.count(truth[0].shape) == 1 + 3  # kept once; plain every time
    made.clear()
    kept.update(result(truth[1]), frame_index=0)  # another truth under the same index (a size change): recomputed
    assert made == [truth[1].shape]
    kept.reset()  # a new source
    made.clear()
    kept.update(result(truth[0]), frame_index=0)
    assert made == [truth[0].shape] and kept.frames == 1


def test_live_scores_compute_rings_beside_and_report_unknown_classes() -> None:
    """app.scoring: the rings started on the helper thread give the scores of RunningScores alone,
    the twin is scored on the same rings, and truth with class ids the model lacks is a message."""
    from app.scoring import LiveScores
    from gun.io.base import Frame
    from gun.metrics.running import RunningScores
    from gun.runtime.result import FrameResult

    rng = np.random.default_rng(7)
    truth = rng.integers(0, 3, (9, 12)).astype(np.uint8)
    pred, twin_pred = (rng.integers(0, 3, truth.shape).astype(np.uint8) for _ in range(2))
    low = np.zeros((3, 2, 2), np.float32)
    frame = Frame(np.zeros((9, 12, 3), np.uint8), 4, 0.0, labels=truth)
    live, alone, twin_alone = LiveScores(3, twin=True), RunningScores(3), RunningScores(3)
    try:
        rings = live.start(frame)
        assert rings is not None
        scores, trimap, problem = live.score(frame, FrameResult(pred, pred, None, low, (1, 1, 0, 0)),
                                             FrameResult(twin_pred, twin_pred, None, low, (1, 1, 0, 0)), rings)
        expected = alone.update(FrameResult(pred, pred, None, low, (1, 1, 0, 0), ground_truth=truth))
        twin_expected = twin_alone.update(FrameResult(twin_pred, twin_pred, None, low, (1, 1, 0, 0), ground_truth=truth))
        assert problem == "" and {k: scores[k] for k in expected} == expected
        assert scores["miou_twin"] == twin_expected["miou_gum"]
        assert trimap is not None and trimap["gum"] == alone.trimap()["gum"] and trimap["twin"] == twin_alone.trimap()["gum"]
        unknown = Frame(frame.image, 5, 0.0, labels=np.full_like(truth, 7))
        scores, trimap, problem = live.score(unknown, FrameResult(pred, pred, None, low, (1, 1, 0, 0)), None, live.start(unknown))
        assert (scores, trimap) == ({}, None) and "classes the model does not know" in problem
        assert live.start(Frame(frame.image, 6, 0.0)) is None  # no labels: nothing to start
    finally:
        live.close()
