"""The corpus of bad inputs (issue 10), generated here, and the harness that runs them.

Each Case builds its inputs under a fresh folder (`in/`, outputs go to `out/`) and returns the Runs
that feed them to every entry point that takes them: `gun annotate`, `gun eval`, `gun trimap`,
`gun bench`, `gun train`, `gun release`, `gun distill` (through gun.cli.main, in process, so that the corpus stays
fast; tests/test_reliability_process.py runs real subprocesses) and `gun.load_model`. The contract
checked for every run is in `check`. docs/reliability.md is rendered from CASES (`table()`).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from conftest import make_checkpoint, synthetic_frame, write_video


@dataclass
class Run:
    argv: list[str] | None  # gun's arguments; None = gun.load_model(load)
    ok: bool  # exit 0 (True) or a one-line error and a non-zero exit (False)
    match: str = ""  # regex the error line (or, for ok runs, a note) must contain
    outputs: tuple[str, ...] = ()  # files that may appear or change in out/ (ok runs only)
    removed: tuple[str, ...] = ()  # files in out/ the run is expected to remove (stale partials)
    load: Path | None = None


@dataclass
class Env:
    """What every case may use: a working checkpoint, a tiny CamVid split, the case's folders."""

    checkpoint: Path
    camvid: Path  # a root with val/ and valannot/ (2 images of 64 x 96)
    dir: Path = field(default=Path())

    @property
    def inp(self) -> Path:
        return self.dir / "in"

    @property
    def out(self) -> Path:
        return self.dir / "out"


@dataclass
class Case:
    name: str
    category: str
    behaviour: str  # one line for the docs table
    build: Callable[[Env], list[Run]]


# ---- entry points ---------------------------------------------------------------------------------

def annotate(env: Env, source: str | Path, *extra: str, out: str | Path | None = None, weights: Path | None = None,
             ok: bool = False, match: str = "", outputs: tuple[str, ...] | None = None, removed: tuple[str, ...] = ()) -> Run:
    target = Path(out) if out is not None else env.out / "o.mp4"
    argv = ["annotate", str(source), "--out", str(target), "--weights", str(weights or env.checkpoint), "--no-progress",
            "--backend", "torch", "--device", "cpu", *extra]
    if "--frames" not in extra:
        argv += ["--frames", "3"]
    if outputs is None:
        outputs = (target.name,) if "--no-sidecar" in extra else (target.name, target.with_suffix(".csv").name)
    return Run(argv, ok, match, outputs, removed)


def evaluate(env: Env, *, checkpoint: Path | None = None, root: Path | None = None, extra: tuple[str, ...] = (),
             ok: bool = False, match: str = "") -> Run:
    return Run(["eval", "--checkpoint", str(checkpoint or env.checkpoint), "--dataset", "camvid", "--data-root", str(root or env.camvid),
                "--split", "val", "--device", "cpu", "--no-progress", *extra], ok, match)


def trimap(env: Env, *, checkpoint: Path | None = None, root: Path | None = None, extra: tuple[str, ...] = (),
           ok: bool = False, match: str = "") -> Run:
    return Run(["trimap", "--checkpoint", str(checkpoint or env.checkpoint), "--dataset", "camvid", "--data-root", str(root or env.camvid),
                "--split", "val", "--device", "cpu", "--no-progress", "--max-band", "2", "--out", str(env.out / "t.png"), *extra],
               ok, match, ("t.png",))


def train(env: Env, *, root: Path | None = None, extra: tuple[str, ...] = (), match: str = "") -> Run:
    return Run(["train", "--dataset", "camvid", "--data-root", str(root or env.camvid), "--out", str(env.out / "run"),
                "--train-split", "val", "--val-every", "0", "--encoder", "efficientnet_lite0", "--encoder-weights", "none",
                "--epochs", "1", "--workers", "0", "--no-progress", *extra], False, match)


def bench(env: Env, checkpoint: Path, *extra: str, match: str = "") -> Run:
    return Run(["bench", "--checkpoint", str(checkpoint), "--size", "64x64", "--warmup", "0", "--runs", "1", "--device", "cpu", *extra],
               False, match)


def release(env: Env, checkpoint: Path, *extra: str, out: Path | None = None, ok: bool = False, match: str = "") -> Run:
    return Run(["release", str(checkpoint), "--out", str(out or env.out / "r.safetensors"), *extra], ok, match, ("r.safetensors",))


def distill(env: Env, checkpoint: Path, *extra: str, match: str = "") -> Run:
    return Run(["distill", "--checkpoint", str(checkpoint), "--dataset", "camvid", "--data-root", str(env.camvid), "--split", "val",
                "--epochs", "1", "--no-progress", "--out", str(env.out / "d.safetensors"), *extra], False, match)


def load(path: Path, match: str) -> Run:
    return Run(None, False, match, load=path)


def every_checkpoint_entry(env: Env, path: Path, match: str) -> list[Run]:
    """A bad checkpoint through every entry point that takes one."""
    return [load(path, match), annotate(env, env.inp / "v.avi", weights=path, match=match),
            evaluate(env, checkpoint=path, match=match), trimap(env, checkpoint=path, match=match),
            bench(env, path, match=match), release(env, path, match=match), distill(env, path, match=match)]


def every_dataset_entry(env: Env, root: Path, match: str, eval_match: str | None = None) -> list[Run]:
    """A bad dataset layout through every entry point that reads a dataset split."""
    return [evaluate(env, root=root, match=eval_match or match), trimap(env, root=root, match=eval_match or match),
            train(env, root=root, match=match)]


# ---- generators -----------------------------------------------------------------------------------

def video(env: Env, name: str = "v.avi", frames: int = 6, size: tuple[int, int] = (32, 48)) -> Path:
    env.inp.mkdir(parents=True, exist_ok=True)
    return write_video(env.inp / name, frames=frames, size=size)


def mp4(env: Env, name: str = "v.mp4", frames: int = 6, size: tuple[int, int] = (32, 48)) -> Path:
    env.inp.mkdir(parents=True, exist_ok=True)
    return write_video(env.inp / name, frames=frames, size=size, fourcc="mp4v")


def image(env: Env, name: str = "i.png", size: tuple[int, int] = (32, 48), array: np.ndarray | None = None) -> Path:
    path = env.inp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array if array is not None else cv2.cvtColor(synthetic_frame(0, size), cv2.COLOR_RGB2BGR))
    return path


def data(env: Env, name: str, content: bytes) -> Path:
    path = env.inp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height and that holds no pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def camvid(env: Env, images: int = 2, label: Callable[[int, np.ndarray], np.ndarray | None] | None = None,
           size: tuple[int, int] = (64, 96)) -> Path:
    """A CamVid val split under in/camvid; `label(i, labels)` may replace (or, returning None, drop) a label map."""
    root = env.inp / "camvid"
    (root / "val").mkdir(parents=True, exist_ok=True)
    (root / "valannot").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(images):
        labels = np.kron(rng.integers(0, 11, (size[0] // 16 + 1, size[1] // 16 + 1)), np.ones((16, 16))).astype(np.uint8)[:size[0], :size[1]]
        image(env, f"camvid/val/f{i}.png", array=cv2.cvtColor(synthetic_frame(i, size), cv2.COLOR_RGB2BGR))
        labels = label(i, labels) if label is not None else labels
        if labels is not None:
            assert cv2.imwrite(str(root / "valannot" / f"f{i}.png"), labels)
    return root


def checkpoint_with_meta(env: Env, name: str, change: Callable[[dict], object]) -> Path:
    """A copy of the working checkpoint's metadata, changed, over a one-tensor body (the metadata is refused first)."""
    import torch
    from safetensors.torch import save_file

    from gun.nn.checkpoint import read_meta

    meta = json.loads(read_meta(env.checkpoint).to_json())
    change(meta)
    path = env.inp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"x": torch.zeros(1)}, str(path), metadata={"gun": json.dumps(meta)})
    return path


def checkpoint_with_tensor(env: Env, name: str, change: Callable[[dict], object]) -> Path:
    """A copy of the working checkpoint with its tensors changed."""
    from safetensors.torch import load_file, save_file

    from gun.nn.checkpoint import read_meta

    state = load_file(str(env.checkpoint))
    change(state)
    path = env.inp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"gun": read_meta(env.checkpoint).to_json()})
    return path


def _bilinear_checkpoint(env: Env) -> Path:
    env.inp.mkdir(parents=True, exist_ok=True)
    return make_checkpoint(env.inp / "bilinear.safetensors", guidance=False)


def config_change(key: str, value: object) -> Callable[[dict], None]:
    def change(meta: dict) -> None:
        meta["config"][key] = value
    return change


def meta_change(key: str, value: object) -> Callable[[dict], None]:
    def change(meta: dict) -> None:
        meta[key] = value
    return change


def _first_float(state: dict, value: float) -> None:
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1 and "running" not in k)
    state[name].view(-1)[0] = value


def _negative_var(state: dict) -> None:
    name = next(k for k in state if k.endswith("running_var"))
    state[name][0] = -1.0


class Payload:
    """A pickle that would create a marker file if it were ever unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


# ---- the cases ------------------------------------------------------------------------------------

def _cases() -> list[Case]:
    C = Case
    a = annotate
    cases = [
        # video files
        C("missing video", "video", "error: no such file or folder", lambda e: [a(e, e.inp / "nothing.mp4", match="no such file")]),
        C("empty video file (0 bytes)", "video", "error: is empty (0 bytes)", lambda e: [a(e, data(e, "v.mp4", b""), match="empty")]),
        C("text file named .mp4", "video", "error: cannot open as a video", lambda e: [a(e, data(e, "v.mp4", b"hello" * 100), match="cannot open")]),
        C("random bytes named .avi", "video", "error: cannot open as a video",
          lambda e: [a(e, data(e, "v.avi", np.random.default_rng(1).bytes(5000)), match="cannot open")]),
        C("mp4 cut in half (no moov atom)", "video", "error: cannot open as a video",
          lambda e: [a(e, data(e, "cut.mp4", mp4(e, "whole.mp4", 20).read_bytes()[:1500]), match="cannot open|gave no frames")]),
        C("truncated AVI (header promises more frames)", "video", "error: damaged, header promises N frames but only M decode",
          lambda e: [a(e, data(e, "cut.avi", video(e, "whole.avi", 30).read_bytes()[:12000]), "--frames", "30", match="damaged")]),
        C("16x16 video, every view", "video", "ok (the views fit tiny frames)",
          lambda e: [a(e, video(e, size=(16, 16)), "--view", v, "--frames", "1", ok=True) for v in ("grid", "offsets", "side-by-side", "wipe", "overlay")]),
        C("8x8 video", "video", "ok", lambda e: [a(e, video(e, size=(8, 8)), ok=True)]),
        C("odd-sized 33x47 video", "video", "ok (padded to even size for MPEG-4, not rescaled)", lambda e: [a(e, video(e, size=(33, 47)), ok=True)]),
        C("one-frame video", "video", "ok", lambda e: [a(e, video(e, frames=1), ok=True)]),
        C("mp4 source", "video", "ok", lambda e: [a(e, mp4(e), ok=True)]),
        C("--frames beyond the end", "video", "ok, with a note: wrote all N frames",
          lambda e: [a(e, video(e), "--frames", "100", ok=True, match="asked for more than the 6 frames")]),
        C("frames above the size limit", "video", "ok, with a note: downscaled on read (limit 3840x2160 pixels)",
          lambda e: [a(e, video(e, size=(64, 96)), ok=True, match="larger than .* processed at")]),
        C("named pipe (FIFO) as source", "video", "error: is a named pipe (never opened: it would block)",
          lambda e: [a(e, _fifo(e, "v.mp4"), match="named pipe")]),
        C("symbolic link loop as source", "video", "error: is a symbolic link loop", lambda e: [a(e, _loop(e, "v.mp4"), match="symbolic link loop")]),
        C("dangling symbolic link as source", "video", "error: is a broken symbolic link",
          lambda e: [a(e, _dangling(e, "v.mp4"), match="broken symbolic link")]),
        C("weights file as source", "video", "error: is a weights file, not a video or image",
          lambda e: [a(e, data(e, "m.safetensors", e.checkpoint.read_bytes()[:100]), match="weights file")]),
        C("camera that does not exist", "video", "error: camera N is not available", lambda e: [a(e, "camera:63", match="camera 63 is not available")]),
        C("malformed camera spec", "video", "error: bad camera, write camera:N", lambda e: [a(e, "webcam:front", match="bad camera")]),
        C("empty source argument", "video", "error: no source given", lambda e: [a(e, "", match="no source given")]),
        C("non-ASCII path with spaces", "video", "ok", lambda e: [a(e, video(e, "vidéo clip ä.avi"), ok=True)]),
        C("video renamed .png", "video", "error: cannot read image", lambda e: [a(e, data(e, "v.png", video(e).read_bytes()), match="cannot read image")]),
        # images
        C("PNG image", "image", "ok", lambda e: [a(e, image(e), ok=True)]),
        C("16-bit PNG", "image", "ok (scaled to 8 bits)", lambda e: [a(e, image(e, array=np.full((32, 48, 3), 40000, np.uint16)), ok=True)]),
        C("RGBA PNG", "image", "ok (alpha dropped)", lambda e: [a(e, image(e, array=np.full((32, 48, 4), 200, np.uint8)), ok=True)]),
        C("greyscale PNG", "image", "ok", lambda e: [a(e, image(e, array=np.full((32, 48), 90, np.uint8)), ok=True)]),
        C("1x1 image", "image", "ok", lambda e: [a(e, image(e, array=np.full((1, 1, 3), 90, np.uint8)), ok=True)]),
        C("truncated PNG", "image", "error: cannot read image", lambda e: [a(e, data(e, "t.png", image(e).read_bytes()[:60]), match="cannot read image")]),
        C("PNG header claiming 20000x20000", "image", "error: too large to decode safely (checked before decoding)",
          lambda e: [a(e, data(e, "bomb.png", png_header_only(20000, 20000)), match="too large")]),
        C("float32 TIFF", "image", "error: float32 pixels are not supported",
          lambda e: [a(e, image(e, "f.tiff", array=np.full((32, 48, 3), 0.5, np.float32)), match="not supported")]),
        C("image above the size limit", "image", "ok, with a note: downscaled on read",
          lambda e: [a(e, image(e, size=(64, 96)), ok=True, match="processed at")]),
        # folders
        C("empty folder", "folder", "error: no images found", lambda e: [a(e, _mkdir(e.inp / "empty"), match="no images")]),
        C("folder of text files", "folder", "error: no images found",
          lambda e: [a(e, data(e, "docs/a.txt", b"x").parent, match="no images")]),
        C("folder with one corrupt image", "folder", "error: cannot read image (nothing written)",
          lambda e: [a(e, _folder_with(e, lambda f: data(e, "shots/b.png", b"broken")), match="cannot read image")]),
        C("folder of images of different sizes", "folder", "ok, with a note: each resized to the first one's size",
          lambda e: [a(e, _folder_with(e, lambda f: image(e, "shots/b.png", size=(40, 40))), ok=True, match="different sizes")]),
        C("folder with a symlink loop inside", "folder", "ok (the loop is skipped)",
          lambda e: [a(e, _folder_with(e, lambda f: _loop(e, "shots/z.png")), ok=True)]),
        C("folder named .mp4", "folder", "error: no images found", lambda e: [a(e, _mkdir(e.inp / "x.mp4"), match="no images")]),
        C("CamVid folder, an annotation missing", "folder", "ok, with a note: N of M images have no annotation",
          lambda e: [a(e, camvid(e, 3, lambda i, lab: None if i == 1 else lab) / "val", ok=True, match="1 of 3 images have no annotation")]),
        C("CamVid folder, every label void/ignored", "folder", "ok, with a note: the ground truth labels no pixel",
          lambda e: [a(e, camvid(e, 2, lambda i, lab: np.full_like(lab, 200)) / "val", ok=True, match="labels no pixel")]),
        C("CamVid folder, label map of another size", "folder", "error: label map size differs",
          lambda e: [a(e, camvid(e, 1, lambda i, lab: lab[:32]) / "val", match="label map size")]),
        C("CamVid folder, RGB label map", "folder", "error: labels are single-channel",
          lambda e: [a(e, camvid(e, 1, lambda i, lab: np.dstack([lab] * 3)) / "val", match="single-channel")]),
        C("CamVid folder, 16-bit labels above 255", "folder", "error: labels must be 8-bit class ids",
          lambda e: [a(e, camvid(e, 1, lambda i, lab: lab.astype(np.uint16) * 300) / "val", match="8-bit")]),
        C("Cityscapes folder without gtFine", "folder", "ok (no ground truth)",
          lambda e: [a(e, image(e, "cs/leftImg8bit/val/x/x_000000_000019_leftImg8bit.png").parents[3], ok=True)]),
        C("Cityscapes folder without images", "folder", "error: no images found",
          lambda e: [a(e, _mkdir(e.inp / "cs" / "leftImg8bit" / "val").parents[1], match="no images")]),
        # dataset layouts
        C("--data-root missing", "dataset", "error: expected folder", lambda e: every_dataset_entry(e, e.inp / "nowhere", "expected folder")),
        C("--data-root is a file", "dataset", "error: expected folder",
          lambda e: every_dataset_entry(e, data(e, "root.txt", b"x"), "expected folder")),
        C("split without its annot folder", "dataset", "error: expected folder ...annot",
          lambda e: every_dataset_entry(e, _drop(camvid(e), "valannot"), "valannot")),
        C("a label missing in the split", "dataset", "error: label missing for image",
          lambda e: every_dataset_entry(e, camvid(e, 2, lambda i, lab: None if i else lab), "missing")),
        C("every label void (11)", "dataset", "eval: error: no labelled pixel",
          lambda e: [evaluate(e, root=camvid(e, 2, lambda i, lab: np.full_like(lab, 11)), match="no labelled pixel")]),
        C("labels 255/200 everywhere", "dataset", "eval: error: no labelled pixel",
          lambda e: [evaluate(e, root=camvid(e, 2, lambda i, lab: np.where(lab % 2, 255, 200).astype(np.uint8)), match="no labelled pixel")]),
        C("corrupt label PNG", "dataset", "error: cannot read a single-channel label image",
          lambda e: [evaluate(e, root=_corrupt_label(e), match="cannot read"), trimap(e, root=_corrupt_label(e, "b"), match="cannot read")]),
        C("image and label sizes differ", "dataset", "error: sizes differ",
          lambda e: [evaluate(e, root=camvid(e, 1, lambda i, lab: lab[:32]), match="sizes differ")]),
        C("16-bit labels above 255", "dataset", "error: label values must be 0-255",
          lambda e: [evaluate(e, root=camvid(e, 1, lambda i, lab: lab.astype(np.uint16) * 300), match="0-255")]),
        C("empty split", "dataset", "error: no images in the split", lambda e: every_dataset_entry(e, _empty_split(e), "no .*images")),
        # checkpoints
        C("missing checkpoint", "checkpoint", "error: no such file", lambda e: _ck(e, e.inp / "none.safetensors", "no such file|not found")),
        C("empty checkpoint file", "checkpoint", "error: not a GUN checkpoint", lambda e: _ck(e, data(e, "e.safetensors", b""), "not a GUN checkpoint")),
        C("random bytes as checkpoint", "checkpoint", "error: not a GUN checkpoint",
          lambda e: _ck(e, data(e, "r.safetensors", np.random.default_rng(2).bytes(4096)), "not a GUN checkpoint")),
        C("pickle payload (.pth)", "checkpoint", "error: not a GUN checkpoint; the payload never runs", _pickle_case),
        C("truncated checkpoint", "checkpoint", "error: corrupt checkpoint",
          lambda e: _ck(e, data(e, "t.safetensors", e.checkpoint.read_bytes()[:-4096]), "corrupt")),
        C("postproc [40000, 128]", "checkpoint", "error: config.postproc must be 1..2048 (checked before any allocation)",
          lambda e: _ck(e, checkpoint_with_meta(e, "p.safetensors", config_change("postproc", [40000, 128])), "postproc")),
        C("guidance_channels 30000", "checkpoint", "error: config.guidance_channels must be 1..2048",
          lambda e: _ck(e, checkpoint_with_meta(e, "g.safetensors", config_change("guidance_channels", 30000)), "guidance_channels")),
        C("guidance_pool 64", "checkpoint", "error: config.guidance_pool must be 1..4",
          lambda e: _ck(e, checkpoint_with_meta(e, "q.safetensors", config_change("guidance_pool", 64)), "guidance_pool")),
        C("distill a model without guidance", "checkpoint", "error: no guidance module to distil",
          lambda e: [distill(e, _bilinear_checkpoint(e), match="no guidance module to distil")]),
        C("distill --init from a module of another shape", "checkpoint", "error: --init ... its config differs from the student's",
          lambda e: [distill(e, e.checkpoint, "--pool", "2", "--init", str(e.checkpoint), match="config differs")]),
        C("palette entry 999", "checkpoint", "error: palette entries must be 0..255",
          lambda e: _ck(e, checkpoint_with_meta(e, "c.safetensors", lambda m: m["palette"].__setitem__(0, [999, 0, 0])), "palette")),
        C('mean "abc"', "checkpoint", "error: mean must be finite numbers",
          lambda e: _ck(e, checkpoint_with_meta(e, "m.safetensors", meta_change("mean", "abc")), "mean")),
        C("std 0", "checkpoint", "error: std must be positive", lambda e: _ck(e, checkpoint_with_meta(e, "s.safetensors", meta_change("std", [0.2, 0, 0.2])), "std")),
        C("std NaN", "checkpoint", "error: std must be finite",
          lambda e: _ck(e, checkpoint_with_meta(e, "n.safetensors", meta_change("std", [float("nan")] * 3)), "std")),
        C("num_classes 0 / 100000", "checkpoint", "error: config.num_classes must be 1..255",
          lambda e: _ck(e, checkpoint_with_meta(e, "k.safetensors", config_change("num_classes", 100000)), "num_classes")),
        C("class names fewer than classes", "checkpoint", "error: class_names must have N entries",
          lambda e: _ck(e, checkpoint_with_meta(e, "k.safetensors", lambda m: m["class_names"].pop()), "class_names")),
        C("unknown encoder", "checkpoint", "error: unknown encoder",
          lambda e: _ck(e, checkpoint_with_meta(e, "u.safetensors", config_change("encoder", "resnet50")), "unknown encoder")),
        C("unknown metadata field", "checkpoint", "error: unknown metadata fields",
          lambda e: _ck(e, checkpoint_with_meta(e, "f.safetensors", meta_change("evil", 1)), "unknown metadata")),
        C("metadata version 99", "checkpoint", "error: unsupported checkpoint version",
          lambda e: _ck(e, checkpoint_with_meta(e, "v.safetensors", meta_change("version", 99)), "version")),
        C("NaN weights", "checkpoint", "error: tensor holds NaN or infinite values",
          lambda e: _ck(e, checkpoint_with_tensor(e, "nan.safetensors", lambda s: _first_float(s, float("nan"))), "NaN or infinite")),
        C("infinite weights", "checkpoint", "error: tensor holds NaN or infinite values",
          lambda e: _ck(e, checkpoint_with_tensor(e, "inf.safetensors", lambda s: _first_float(s, float("inf"))), "NaN or infinite")),
        C("negative BatchNorm variance", "checkpoint", "error: negative variances",
          lambda e: _ck(e, checkpoint_with_tensor(e, "var.safetensors", _negative_var), "negative variances")),
        C("a tensor of the wrong shape", "checkpoint", "error: tensor has shape ..., config expects ...",
          lambda e: _ck(e, checkpoint_with_tensor(e, "shape.safetensors", lambda s: s.__setitem__("classifier.weight", s["classifier.weight"][:5].clone())),
                        "has shape")),
        C("checkpoint path is a folder", "checkpoint", "error: is a folder", lambda e: _ck(e, _mkdir(e.inp / "w.safetensors"), "is a folder")),
        C("checkpoint is a named pipe", "checkpoint", "error: is a named pipe", lambda e: _ck(e, _fifo(e, "w.safetensors"), "named pipe")),
        # output paths
        C("--out is the input", "output", "refused before anything is written",
          lambda e: [a(e, mp4(e, "o.mp4"), out=e.inp / "o.mp4", match="is the input")]),
        C("--out is a symlink to the input", "output", "refused before anything is written",
          lambda e: [a(e, mp4(e, "o.mp4"), out=_link(e.out / "l.mp4", e.inp / "o.mp4"), match="is the input")]),
        C("--out is a folder", "output", "refused before anything is written", lambda e: [a(e, video(e), out=_mkdir(e.out / "d.mp4"), match="is a folder")]),
        C("--out under a file", "output", "refused: ... is a file, not a folder",
          lambda e: [a(e, video(e), out=data(e, "f", b"x") / "o.mp4", match="is a file, not a folder")]),
        C("--out under /proc", "output", "refused: cannot write there", lambda e: [a(e, video(e), out=Path("/proc/gun-test/o.mp4"), match="cannot write there")]),
        C("--out not .mp4", "output", "refused: --out must end in .mp4", lambda e: [a(e, video(e), out=e.out / "o.avi", match=r"\.mp4")]),
        C("CSV sidecar path is a folder", "output", "refused before the run",
          lambda e: [a(e, video(e), out=e.out / "o.mp4", match="sidecar", outputs=()) for _ in [_mkdir(e.out / "o.csv")]]),
        C("--out in a folder that does not exist yet", "output", "ok (folder created)",
          lambda e: [a(e, video(e), out=e.out / "new" / "o.mp4", ok=True, outputs=("new",))]),
        C("--out in a new folder, the run fails", "output", "error (the weights); no folder is left behind",
          lambda e: [a(e, video(e), out=e.out / "new" / "o.mp4", weights=data(e, "w.safetensors", b"junk"), match="not a GUN checkpoint")]),
        C("--out over an earlier output", "output", "ok, replaced atomically",
          lambda e: [a(e, video(e), ok=True), a(e, video(e), "--view", "grid", ok=True)]),
        C("stale partial of a killed export", "output", "ok; the stale partial is removed",
          lambda e: [a(e, video(e), ok=True, removed=(_stale(e.out / "o.mp4").name,))]),
        C("release --out is the checkpoint", "output", "refused before anything is written",
          lambda e: [release(e, _copy(e.checkpoint, e.inp / "w.safetensors"), out=e.inp / "w.safetensors", match="is the input")]),
        C("eval --json is the checkpoint", "output", "refused before the evaluation",
          lambda e: [evaluate(e, checkpoint=_copy(e.checkpoint, e.inp / "w.safetensors"), extra=("--json", str(e.inp / "w.safetensors")),
                              match="is the input")]),
        C("bench --json is a folder", "output", "refused before the benchmark",
          lambda e: [bench(e, e.checkpoint, "--json", str(_mkdir(e.out / "j")), match="is a folder")]),
        # option values
        C("--frames 0 / -3", "option", "error: --frames must be at least 1",
          lambda e: [a(e, video(e), "--frames", n, match="at least 1") for n in ("0", "-3")]),
        C("--frames abc", "option", "error: invalid int value (one line, no usage block)",
          lambda e: [a(e, video(e), "--frames", "abc", match="invalid int")]),
        C("--alpha 1.5 / nan", "option", "error: --alpha must be within 0..1",
          lambda e: [a(e, video(e), "--alpha", v, match="0..1") for v in ("1.5", "nan")]),
        C("--view bogus", "option", "error: invalid choice", lambda e: [a(e, video(e), "--view", "bogus", match="invalid choice")]),
        C("--backend bogus", "option", "error: unknown backend", lambda e: [a(e, video(e), "--backend", "bogus", match="unknown backend")]),
        C("--limit 0", "option", "error: --limit must be at least 1", lambda e: [evaluate(e, extra=("--limit", "0"), match="at least 1")]),
        C("--runs 0", "option", "error: need --runs >= 1", lambda e: [bench(e, e.checkpoint, "--runs", "0", match="runs")]),
        C("--size 3x3", "option", "error: size must be at least 32x32", lambda e: [bench(e, e.checkpoint, "--size", "3x3", match="32x32")]),
        C("--max-band 0", "option", "error: --max-band must be at least 1", lambda e: [trimap(e, extra=("--max-band", "0"), match="max-band")]),
        C("--epochs abc", "option", "error: invalid int value", lambda e: [train(e, extra=("--epochs", "abc"), match="invalid int")]),
        C("--lovasz -1 / --edge-weight nan / --edge-px 0", "option", "error: loss weights must be >= 0 (--edge-px at least 1), no run folder",
          lambda e: [train(e, extra=(flag, v), match=m) for flag, v, m in (("--lovasz", "-1", ">= 0"), ("--edge-weight", "nan", ">= 0"),
                                                                              ("--edge-px", "0", "at least 1"))]),
        C("release --metrics not JSON", "option", "error: not a JSON report of gun eval",
          lambda e: [release(e, e.checkpoint, "--metrics", str(data(e, "m.json", b"{oops")), match="not a JSON report")]),
        C("release --metrics without miou", "option", "error: not a JSON report of gun eval",
          lambda e: [release(e, e.checkpoint, "--metrics", str(data(e, "m.json", b'{"decoders": {"gum": {}}}')), match="not a JSON report")]),
        C("unknown command", "option", "error: invalid choice", lambda e: [Run(["frobnicate"], False, "invalid choice")]),
    ]
    return cases


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fifo(env: Env, name: str) -> Path:
    path = _mkdir(env.inp) / name
    os.mkfifo(path)
    return path


def _loop(env: Env, name: str) -> Path:
    path = env.inp / name
    _mkdir(path.parent)
    other = path.with_name(path.name + ".other")
    os.symlink(other.name, path)
    os.symlink(path.name, other)
    return path


def _dangling(env: Env, name: str) -> Path:
    path = _mkdir(env.inp) / name
    os.symlink("does-not-exist.mp4", path)
    return path


def _link(link: Path, target: Path) -> Path:
    _mkdir(link.parent)
    os.symlink(target, link)
    return link


def _copy(src: Path, dst: Path) -> Path:
    _mkdir(dst.parent)
    dst.write_bytes(src.read_bytes())
    return dst


def _stale(target: Path) -> Path:
    """A partial file as an export killed by SIGKILL leaves it (its process id no longer runs)."""
    _mkdir(target.parent)
    stale = target.with_name(f".{target.stem}.999999999-deadbeef.partial{target.suffix}")
    stale.write_bytes(b"half a video")
    return stale


def _folder_with(env: Env, add: Callable[[Path], object]) -> Path:
    folder = _mkdir(env.inp / "shots")
    image(env, "shots/a.png")
    add(folder)
    return folder


def _drop(root: Path, name: str) -> Path:
    for p in (root / name).iterdir():
        p.unlink()
    (root / name).rmdir()
    return root


def _corrupt_label(env: Env, tag: str = "a") -> Path:
    root = camvid(Env(env.checkpoint, env.camvid, env.dir / tag), 1)
    (root / "valannot" / "f0.png").write_bytes(b"not a png")
    return root


def _empty_split(env: Env) -> Path:
    root = env.inp / "camvid"
    _mkdir(root / "val")
    _mkdir(root / "valannot")
    return root


def _ck(env: Env, path: Path, match: str) -> list[Run]:
    video(env)
    return every_checkpoint_entry(env, path, match)


def _pickle_case(env: Env) -> list[Run]:
    marker = env.dir / "payload-ran"
    path = data(env, "evil.pth", pickle.dumps({"state_dict": Payload(marker)}))
    return _ck(env, path, "not a GUN checkpoint")


CASES = _cases()


# ---- the contract ---------------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under folder (hidden ones too) -> its content hash, or its kind for non-files."""
    found: dict[str, str] = {}
    if not os.path.lexists(folder):
        return found
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            mode = os.lstat(p).st_mode
            rel = str(p.relative_to(folder))
            if stat.S_ISREG(mode):
                found[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                found[rel] = "dir" if stat.S_ISDIR(mode) else "link" if stat.S_ISLNK(mode) else "special"
    return found


def check(run: Run, rc: int, stdout: str, stderr: str, before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> None:
    """The contract of issue 10, for one run."""
    what = f"{run.argv or ['load_model', str(run.load)]}"
    assert "Traceback" not in stderr + stdout, f"{what}: traceback\n{stderr}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert before["in"] == after["in"], f"{what}: an input changed"
    new = {k for k in after["out"] if k not in before["out"] or after["out"][k] != before["out"][k]}
    gone = {k for k in before["out"] if k not in after["out"]}
    top = {k.split(os.sep)[0] for k in new}
    if run.ok:
        assert rc == 0, f"{what}: exit {rc}\n{stderr}"
        assert all(": note: " in line for line in lines), f"{what}: unexpected stderr\n{stderr}"
        assert top <= set(run.outputs) and set(run.outputs) <= {k.split(os.sep)[0] for k in after["out"]}, f"{what}: wrote {sorted(new)}"
        assert not any("partial" in k for k in after["out"]), f"{what}: partial file left: {sorted(after['out'])}"
        if run.match:
            assert any(re.search(run.match, line) for line in lines), f"{what}: no note matching {run.match!r}\n{stderr}"
    else:
        assert rc != 0, f"{what}: exit 0 for a bad input\n{stdout}\n{stderr}"
        assert len(lines) == 1, f"{what}: expected one line on stderr, got {len(lines)}:\n{stderr}"
        assert re.search(r"(^gun( \w+)?: (internal )?error: )|^CheckpointError: ", lines[0]), lines[0]
        assert "internal error" not in lines[0], f"{what}: an unexpected exception: {lines[0]}"
        assert re.search(run.match, lines[0]), f"{what}: {lines[0]!r} does not match {run.match!r}"
        assert not new, f"{what}: wrote {sorted(new)} although it failed"
    assert gone <= set(run.removed), f"{what}: removed {sorted(gone)}"
    assert set(run.removed) <= gone, f"{what}: left {sorted(set(run.removed) - gone)}"


def table(entries: dict[str, str]) -> str:
    """docs/reliability.md, rendered from CASES; `entries`: case name -> the entry points its runs use."""
    lines = [
        "# Reliability: every bad input, and what happens",
        "",
        "Generated from tests/reliability_corpus.py and checked by tests/test_reliability_docs.py (regenerate:",
        "`GUN_WRITE_DOCS=1 python -m pytest tests/test_reliability_docs.py`). Every input is generated by the tests",
        "and run through each entry point that takes it (`gun annotate`, `gun eval`, `gun trimap`, `gun bench`,",
        "`gun train`, `gun release`, `gun.load_model`). For every run: an error is one line on stderr and a",
        "non-zero exit, never a traceback; no file appears or changes in the output folder except the intended",
        "one; the inputs are unchanged (hashed before and after). Plus: a full disk (tests/test_reliability_process.py)",
        "and an export killed with SIGKILL.",
        "",
        f"{len(CASES)} kinds of input:",
        "",
        "| # | kind | input | behaviour | entry points |",
        "|---|---|---|---|---|",
    ]
    for i, case in enumerate(CASES, 1):
        lines.append(f"| {i} | {case.category} | {case.name} | {case.behaviour} | {entries[case.name]} |")
    lines += [
        f"| {len(CASES) + 1} | output | full disk while writing (RLIMIT_FSIZE) | error: the written file does not read back; nothing under the target name | gun annotate (subprocess) |",
        f"| {len(CASES) + 2} | output | export killed with SIGKILL | no file under the target name; the next run removes the stale partial | gun annotate (subprocess) |",
        f"| {len(CASES) + 3} | output | export stopped with SIGTERM | exit 143, one line, no partial file | gun annotate (subprocess) |",
        "",
    ]
    return "\n".join(lines)


def entry_points(runs: list[Run]) -> str:
    names = []
    for run in runs:
        name = "gun.load_model" if run.argv is None else f"gun {run.argv[0]}"
        if name not in names:
            names.append(name)
    return ", ".join(names)
