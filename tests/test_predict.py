"""`gun predict` end to end: label maps scored by the official Cityscapes evaluator (cityscapesscripts)
and by an independent numpy computation (CamVid) agree with `gun eval` on the same model and frames;
colour images, offsets, videos, single images; every bad input is one line and leaves no partial file."""

from __future__ import annotations

import glob
import importlib
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from gun.cli import main
from gun.data.labels import CAMVID_VOID, CITYSCAPES_CLASSES, CITYSCAPES_LABELS, CITYSCAPES_PALETTE
from gun.nn.checkpoint import load_model, save_checkpoint
from gun.runtime.segmenter import Segmenter
from tests.conftest import make_checkpoint, synthetic_frame, write_video
from tests.datasets import make_camvid, make_cityscapes

TRAIN_TO_LABEL_ID = {t: i for _, i, t, _ in CITYSCAPES_LABELS if 0 <= t < 255}  # from the official table


def random_checkpoint(path: Path, class_names: tuple[str, ...], palette, input_size: tuple[int, int] | None,
                      guidance: bool = True, seed: int = 0) -> Path:
    """A random EfficientNet-Lite0 GUN that still varies over the frame, GUM and bilinear differing."""
    return make_checkpoint(path, guidance, seed, tuple(class_names), tuple(palette), input_size)


def app_segmenter(checkpoint: Path) -> Segmenter:
    """The app's Segmenter with the network in float32 eager torch, as `gun predict` runs it here."""
    try:
        return Segmenter.from_checkpoint(checkpoint, device="cpu", dtype="float32", backend="torch")
    except TypeError:  # a Segmenter without backends
        return Segmenter.from_checkpoint(checkpoint, device="cpu", dtype="float32")


def predict(*args: str) -> int:
    return main(["predict", "--device", "cpu", "--no-progress", *args])


def evaluate(checkpoint: Path, dataset: str, root: Path, out: Path, *extra: str) -> dict:
    assert main(["eval", "--checkpoint", str(checkpoint), "--dataset", dataset, "--data-root", str(root), "--split", "val",
                 "--device", "cpu", "--no-progress", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def official_cityscapes_scores(dataset: Path, results: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """cityscapesscripts' own pixel-level evaluation of the predictions under `results`, found by its
    own search (getPrediction: recursively, by the server's file-name pattern), offline and quietly."""
    monkeypatch.setenv("CITYSCAPES_DATASET", str(dataset))
    monkeypatch.setenv("CITYSCAPES_RESULTS", str(results))
    monkeypatch.delenv("CITYSCAPES_EXPORT_DIR", raising=False)
    import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as official

    official = importlib.reload(official)  # its module-level `args` reads the environment on import
    args = official.args
    args.evalInstLevelScore = False  # nIoU needs *_instanceIds.png, which the fixture does not have
    args.JSONOutput = False
    args.quiet = True
    args.colorized = False
    ground_truth = sorted(glob.glob(args.groundTruthSearch))
    assert ground_truth, args.groundTruthSearch
    predictions = [official.getPrediction(args, gt) for gt in ground_truth]
    return official.evaluateImgLists(predictions, ground_truth, args)


def assert_same_scores(ours: dict, theirs_per_class: dict[str, float], theirs_miou: float, names) -> None:
    for name in names:
        a, b = ours["per_class"][name], theirs_per_class[name]
        if a is None:
            assert np.isnan(b), name
        else:
            assert abs(a - b) <= 1e-4, (name, a, b)
    assert abs(ours["miou"] - theirs_miou) <= 1e-4


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = make_cityscapes(tmp_path_factory.mktemp("cityscapes"), splits=("val",), per_city=2, size=(64, 128))
    # the checkpoint runs frames at 48x96 (the area they are resized to); labels come back at 64x128
    ckpt = random_checkpoint(tmp_path_factory.mktemp("w") / "cs.safetensors", CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, (48, 96))
    return root, ckpt


@pytest.mark.parametrize("decoder, tta", [("gum", None), ("bilinear", None), ("gum", "flip,0.75,1")])
def test_official_cityscapes_evaluator_agrees_with_gun_eval(cityscapes: tuple[Path, Path], decoder: str, tta: str | None,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, ckpt = cityscapes
    out = tmp_path / "pred"
    extra = ["--tta", tta] if tta else []
    assert predict("--checkpoint", str(ckpt), "--source", str(root / "leftImg8bit" / "val"), "--out", str(out),
                   "--decoder", decoder, *extra) == 0
    # the server's naming and format: CITY_SEQ_FRAME_gtFine_labelIds.png, 8-bit single channel, the frame's size, labelIds
    names = sorted(p.name for p in (out / "labels").iterdir())
    assert names == sorted(p.name.replace("_leftImg8bit", "_gtFine_labelIds") for p in (root / "leftImg8bit" / "val").rglob("*.png"))
    predicted = set()
    for p in (out / "labels").iterdir():
        m = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        assert m.dtype == np.uint8 and m.shape == (64, 128)
        predicted |= set(np.unique(m).tolist())
    assert predicted <= set(TRAIN_TO_LABEL_ID.values()) and len(predicted) >= 3, predicted

    official = official_cityscapes_scores(root, out / "labels", monkeypatch)
    report = evaluate(ckpt, "cityscapes", root, tmp_path / "eval.json", "--decoder", decoder, *extra)
    ours = report["tta"]["decoders"][decoder] if tta else report["decoders"][decoder]
    if tta:
        assert report["tta"]["spec"] == tta and json.loads((out / "predict.json").read_text())["tta"] == tta
    # the official confusion matrix (labelIds, ignored rows included) restricted to the 19 classes is ours
    conf = np.array(official["confMatrix"])
    ids = [TRAIN_TO_LABEL_ID[t] for t in range(19)]
    assert (conf[np.ix_(ids, ids)] == np.array(ours["confusion"])).all()
    assert_same_scores(ours, official["classScores"], official["averageScoreClasses"], CITYSCAPES_CLASSES)
    assert any(0 < (v or 0) < 1 for v in ours["per_class"].values())  # not a trivial all-or-nothing score


@pytest.fixture(scope="module")
def camvid(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> tuple[Path, Path]:
    root = make_camvid(tmp_path_factory.mktemp("camvid"), splits=("val",), images=3, size=(64, 96))
    model, meta = load_model(checkpoint)
    ckpt = tmp_path_factory.mktemp("w") / "camvid.safetensors"
    save_checkpoint(ckpt, model, replace(meta, input_size=(48, 64)))  # frames run at 45x68, labels at 64x96
    return root, ckpt


def numpy_scores(labels_dir: Path, annot_dir: Path, n: int = 11) -> tuple[np.ndarray, float, float]:
    """Per-class IoU, mIoU and pixel accuracy written out in numpy from the PNGs (void = 11 ignored)."""
    inter, union = np.zeros(n), np.zeros(n)
    correct = total = 0
    for gt_file in sorted(annot_dir.glob("*.png")):
        gt = cv2.imread(str(gt_file), cv2.IMREAD_UNCHANGED).astype(np.int64)
        pred = cv2.imread(str(labels_dir / gt_file.name), cv2.IMREAD_UNCHANGED).astype(np.int64)
        assert pred.shape == gt.shape
        valid = gt != CAMVID_VOID
        for c in range(n):
            p, g = (pred == c) & valid, (gt == c) & valid
            inter[c] += (p & g).sum()
            union[c] += (p | g).sum()
        correct += (pred == gt)[valid].sum()
        total += valid.sum()
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return iou, float(np.nanmean(iou)), correct / total


def test_camvid_predictions_score_like_gun_eval(camvid: tuple[Path, Path], tmp_path: Path) -> None:
    root, ckpt = camvid
    out = tmp_path / "pred"
    assert predict("--checkpoint", str(ckpt), "--source", str(root / "val"), "--out", str(out)) == 0
    assert sorted(p.name for p in (out / "labels").iterdir()) == sorted(p.name for p in (root / "val").iterdir())
    iou, miou, acc = numpy_scores(out / "labels", root / "valannot")
    report = evaluate(ckpt, "camvid", root, tmp_path / "eval.json", "--decoder", "gum")
    names = report["class_names"]
    assert_same_scores(report["decoders"]["gum"], dict(zip(names, iou)), miou, names)
    assert abs(report["pixel_acc"] - acc) <= 1e-4
    manifest = json.loads((out / "predict.json").read_text())
    assert manifest["frames"] == 3 and manifest["ids"] == "class indices" and manifest["tta"] is None
    assert manifest["protocol"].startswith("single-scale")


def test_colour_and_offsets_match_the_app(camvid: tuple[Path, Path], tmp_path: Path) -> None:
    root, ckpt = camvid
    out = tmp_path / "pred"
    assert predict("--checkpoint", str(ckpt), "--source", str(root / "val"), "--out", str(out), "--color", "--offsets") == 0
    seg = app_segmenter(ckpt)
    palette = np.array(seg.palette, np.uint8)
    for image in sorted((root / "val").iterdir()):
        result = seg(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB))
        labels = cv2.imread(str(out / "labels" / image.name), cv2.IMREAD_UNCHANGED)
        assert np.mean(labels != result.labels_gum) < 1e-3  # the same frame path (exactly, up to float ties)
        colour = cv2.cvtColor(cv2.imread(str(out / "color" / image.name)), cv2.COLOR_BGR2RGB)
        assert (colour == palette[labels]).all()
        with np.load(out / "offsets" / f"{image.stem}.npz") as f:
            offsets, low_grid = f["offsets"], f["low_grid"]
        assert offsets.dtype == np.float16 and offsets.shape == (2, 64, 96)
        np.testing.assert_allclose(offsets.astype(np.float32), result.offsets, atol=2e-3, rtol=1e-3)
        np.testing.assert_allclose(low_grid, result.low_grid)


def test_video_and_single_image_sources(checkpoint: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=5, size=(72, 100))
    out = tmp_path / "video"
    assert predict("--checkpoint", str(checkpoint), "--source", str(video), "--out", str(out), "--limit", "4") == 0
    assert sorted(p.name for p in (out / "labels").iterdir()) == [f"clip_{i:06d}.png" for i in range(4)]
    seg = app_segmenter(checkpoint)
    cap = cv2.VideoCapture(str(video))
    for i in range(4):
        ok, bgr = cap.read()
        assert ok
        labels = cv2.imread(str(out / "labels" / f"clip_{i:06d}.png"), cv2.IMREAD_UNCHANGED)
        assert labels.shape == (72, 100)
        assert np.mean(labels != seg(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).labels_gum) < 1e-3
    cap.release()

    image = tmp_path / "street.jpg"
    cv2.imwrite(str(image), cv2.cvtColor(synthetic_frame(2, (50, 70)), cv2.COLOR_RGB2BGR))
    out = tmp_path / "image"
    assert predict("--checkpoint", str(checkpoint), "--source", str(image), "--out", str(out), "--decoder", "bilinear", "--color") == 0
    labels = cv2.imread(str(out / "labels" / "street.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (50, 70)
    assert (out / "color" / "street.png").is_file()


def test_cityscapes_train_ids_and_colour_names(cityscapes: tuple[Path, Path], tmp_path: Path) -> None:
    root, ckpt = cityscapes
    a, b = tmp_path / "a", tmp_path / "b"
    source = str(root / "leftImg8bit" / "val" / "aachen")
    assert predict("--checkpoint", str(ckpt), "--source", source, "--out", str(a), "--color") == 0
    assert predict("--checkpoint", str(ckpt), "--source", source, "--out", str(b), "--train-ids") == 0
    lut = np.zeros(256, np.uint8)
    for t, i in TRAIN_TO_LABEL_ID.items():
        lut[t] = i
    for f in sorted((a / "labels").iterdir()):
        train = cv2.imread(str(b / "labels" / f.name), cv2.IMREAD_UNCHANGED)
        assert train.max() < 19 and (lut[train] == cv2.imread(str(f), cv2.IMREAD_UNCHANGED)).all()
        assert (a / "color" / f.name.replace("_gtFine_labelIds", "_gtFine_color")).is_file()
    assert json.loads((b / "predict.json").read_text())["ids"] == "Cityscapes trainIds"


def one_line_error(capsys: pytest.CaptureFixture, *words: str) -> None:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, (w, err)


def no_partials(folder: Path) -> None:
    assert not [p for p in folder.rglob(".*")], "a partial file was left behind"


def test_bad_inputs_fail_with_one_line(checkpoint: Path, checkpoint_bilinear: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert predict("--checkpoint", str(checkpoint), "--source", str(tmp_path / "missing"), "--out", str(out)) == 2
    one_line_error(capsys, "missing")
    assert not (out / "labels").exists() or not any((out / "labels").iterdir())

    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("a.png", "c.png"):
        cv2.imwrite(str(folder / name), synthetic_frame(1, (40, 60)))
    (folder / "b.png").write_bytes(b"not a png at all")  # fails after a.png was written
    assert predict("--checkpoint", str(checkpoint), "--source", str(folder), "--out", str(out)) == 2
    one_line_error(capsys, "b.png")
    assert [p.name for p in (out / "labels").iterdir()] == ["a.png"]
    assert not (out / "predict.json").exists()
    no_partials(out)

    # an earlier run's folder is not mixed into, unless asked
    assert predict("--checkpoint", str(checkpoint), "--source", str(folder / "a.png"), "--out", str(out)) == 2
    one_line_error(capsys, "already holds predictions", "--overwrite")
    assert predict("--checkpoint", str(checkpoint), "--source", str(folder / "a.png"), "--out", str(out), "--overwrite") == 0
    capsys.readouterr()
    no_partials(out)

    fresh = tmp_path / "fresh"
    assert predict("--checkpoint", str(checkpoint_bilinear), "--source", str(folder / "a.png"), "--out", str(fresh), "--decoder", "gum") == 2
    one_line_error(capsys, "--decoder bilinear")
    assert predict("--checkpoint", str(checkpoint_bilinear), "--source", str(folder / "a.png"), "--out", str(fresh), "--offsets") == 2
    one_line_error(capsys, "no guidance")
    assert predict("--checkpoint", str(tmp_path / "nope.safetensors"), "--source", str(folder / "a.png"), "--out", str(fresh)) == 2
    one_line_error(capsys, "nope.safetensors")
    assert predict("--checkpoint", str(checkpoint), "--source", str(folder / "a.png"), "--out", str(folder / "a.png")) == 2
    one_line_error(capsys, "is a file")
    assert not fresh.exists()
    with pytest.raises(SystemExit) as e:
        predict("--checkpoint", str(checkpoint), "--source", str(folder), "--out", str(fresh), "--tta", "0.1")
    assert e.value.code == 2
    assert "outside" in capsys.readouterr().err


DOC = Path(__file__).resolve().parent.parent / "docs" / "predict.md"


@pytest.mark.skipif(not DOC.is_file(), reason="docs/predict.md has been merged into the README")
def test_documented_commands_parse() -> None:
    from gun.cli import build_parser
    from tests.test_docs import doc_commands

    commands = doc_commands(DOC.read_text())
    assert len(commands) >= 7 and {c[0] for c in commands} == {"predict", "eval"}
    for argv in commands:
        build_parser().parse_args(argv)  # exits (fails the test) on an unknown flag or a bad value
