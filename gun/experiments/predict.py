"""Predictions to hand in (`gun predict`): per-frame label maps in the dataset's own id space, for
a benchmark server or any other evaluator, optionally with colour images and the offset field.

    gun predict --checkpoint best.safetensors --source DATA/leftImg8bit/test --out preds/test

Layout under --out (each file written atomically: a reader never sees half of one):
    labels/NAME.png    8-bit single-channel label map at the frame's own size. Cityscapes checkpoints
                       write labelIds (the official ids, what the server scores) and name
                       CITY_SEQ_FRAME_leftImg8bit.png's map CITY_SEQ_FRAME_gtFine_labelIds.png; other
                       datasets (CamVid) write class indices under the image's own stem.
                       Frames of a video are named VIDEOSTEM_000123.png.
    color/NAME.png     the same map in the checkpoint's colours (--color)
    offsets/NAME.npz   the GUM's offsets at every frame pixel (--offsets): "offsets" (2, H, W)
                       float16 in low-resolution pixels (channel 0 = x) and "low_grid" (stride_x,
                       stride_y, origin_x, origin_y): where low-resolution cell (i, j) sits in the frame
    predict.json       what was run (checkpoint, source, decoder, TTA, id space, frames)

Only label maps go under labels/, so that folder can be zipped or given to an evaluator as it is
(the official Cityscapes evaluator searches its results folder recursively, by name).
Frames go through gun.runtime.frames (via gun.runtime.tta.segment) exactly as in `gun eval` and the app.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from gun.data.labels import CITYSCAPES_CLASSES, CITYSCAPES_LABELS
from gun.io.base import IMAGE_EXTENSIONS, Frame
from gun.io.files import atomic_write, atomic_write_text
from gun.io.prefetch import Prefetcher
from gun.io.sources import open_source
from gun.nn.checkpoint import CheckpointMeta, load_model
from gun.nn.layers import channel_argmax
from gun.render.annotate import colorize
from gun.runtime.device import DTYPES, autocast_dtype, resolve_device
from gun.runtime.frames import Decoder, resolve_input_size, to_tensor
from gun.runtime.tta import TTA, segment

PREDICT_DECODERS: tuple[Decoder, ...] = ("gum", "bilinear")
SUBFOLDERS = ("labels", "color", "offsets")


def cityscapes_label_ids() -> np.ndarray:
    """(256,) uint8: trainId -> official labelId (the server scores labelIds); 0 (unlabeled) elsewhere."""
    lut = np.zeros(256, np.uint8)
    for _, label_id, train_id, _ in CITYSCAPES_LABELS:
        if 0 <= train_id < 255:
            lut[train_id] = label_id
    return lut


def id_space(meta: CheckpointMeta, train_ids: bool = False) -> tuple[str, np.ndarray]:
    """The ids written for each predicted class: ("labelIds", lut) for a Cityscapes checkpoint unless
    `train_ids`, else ("class indices", identity)."""
    if tuple(meta.class_names) == CITYSCAPES_CLASSES and not train_ids:
        return "Cityscapes labelIds", cityscapes_label_ids()
    name = "Cityscapes trainIds" if tuple(meta.class_names) == CITYSCAPES_CLASSES else "class indices"
    return name, np.arange(256, dtype=np.uint8)


def output_stem(frame: Frame, source_name: str) -> str:
    """The file stem of a frame's prediction (no extension): Cityscapes' server naming for Cityscapes
    frames, the image's stem for other images, VIDEOSTEM_000123 for video frames."""
    name = Path(frame.name)
    if name.suffix.lower() not in IMAGE_EXTENSIONS:
        return f"{Path(source_name).stem}_{frame.index:06d}"
    if name.name.endswith("_leftImg8bit.png"):
        return name.name[: -len("_leftImg8bit.png")] + "_gtFine_labelIds"
    return name.stem


def _colour_stem(stem: str) -> str:
    return stem[: -len("labelIds")] + "color" if stem.endswith("_gtFine_labelIds") else stem


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse to mix a new run into an earlier one's files unless asked to (a zip of labels/ would
    otherwise hold predictions of two runs)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: give a folder")
    if overwrite:
        return
    used = [out / s for s in SUBFOLDERS if (out / s).is_dir() and any((out / s).iterdir())]
    if used:
        raise ValueError(f"--out {out} already holds predictions ({used[0]}): choose an empty folder or pass --overwrite")


def write_png(path: Path, image: np.ndarray) -> None:
    """An 8-bit PNG (single channel ids, or RGB), atomically."""
    data = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", data)
    if not ok:
        raise RuntimeError(f"cannot encode {path.name} as PNG")
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(buf.tobytes()))


def write_offsets(path: Path, offsets: np.ndarray, low_grid: Sequence[float]) -> None:
    """offsets (2, H, W) as float16 with the low-resolution grid, compressed, atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez_compressed(f, offsets=offsets.astype(np.float16), low_grid=np.asarray(low_grid, np.float64))
    atomic_write(path, write)


def predict(checkpoint: str | Path, source: str | Path, out: str | Path, decoder: str | None = None,
            tta: TTA | str | None = None, colour: bool = False, offsets: bool = False, train_ids: bool = False,
            device: str = "auto", dtype: str = "float32", input_size: tuple[int, int] | str | None = None,
            limit: int | None = None, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Segment every frame of `source` and write its predictions under `out` (layout: module doc).
    Returns the manifest that is also written to out/predict.json."""
    out = Path(out)
    check_out(out, overwrite)
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    tta = TTA.parse(tta) if isinstance(tta, str) else tta
    tta = None if tta is not None and tta.is_single else tta
    dev = resolve_device(device)
    model, meta = load_model(checkpoint, dev)
    if decoder is None:
        decoder = "gum" if model.guidance is not None else "bilinear"
    if decoder not in PREDICT_DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}: choose gum or bilinear")
    if decoder == "gum" and model.guidance is None:
        raise ValueError(f"{checkpoint} has no guidance module (bilinear preset): use --decoder bilinear")
    if offsets and model.guidance is None:
        raise ValueError(f"--offsets: {checkpoint} has no guidance module, so it has no offsets to write")
    ids_name, lut = id_space(meta, train_ids)
    size = resolve_input_size(meta.input_size, input_size)
    amp = autocast_dtype(dtype)
    written: dict[str, str] = {}  # output stem -> frame name, to refuse two frames writing one file
    t0 = time.perf_counter()
    with open_source(source) as src:
        if src.live:
            raise ValueError(f"{src.name} is a camera: gun predict reads files (a video, an image or a folder)")
        total = src.frame_count if limit is None else min(limit, src.frame_count or limit)
        for s in ("labels", *(["color"] if colour else []), *(["offsets"] if offsets else [])):
            (out / s).mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=total, unit="frame", desc=f"predict {src.name}", disable=not progress, dynamic_ncols=True)
        prefetch = Prefetcher(src).start()  # decoding the next frame overlaps the network
        try:
            with bar, torch.inference_mode():
                while (limit is None or len(written) < limit) and (item := prefetch.get()) is not None:
                    frame = item[0]
                    stem = output_stem(frame, src.name)
                    if stem in written:
                        raise ValueError(f"{frame.name} and {written[stem]} would both be written as {stem}.png: "
                                         "predict them into separate --out folders")
                    written[stem] = frame.name
                    seg = segment(model, to_tensor(frame.image, dev), (decoder,), size, tta, amp)
                    labels = channel_argmax(seg.logits[decoder])[0].to(torch.uint8).cpu().numpy()
                    write_png(out / "labels" / f"{stem}.png", lut[labels])
                    if colour:
                        write_png(out / "color" / f"{_colour_stem(stem)}.png", colorize(labels, meta.palette))
                    if offsets and seg.offsets is not None:
                        g = seg.low_grid
                        write_offsets(out / "offsets" / f"{stem}.npz", seg.offsets[0].cpu().numpy(),
                                      (g.stride[1], g.stride[0], g.origin[1], g.origin[0]))
                    bar.update(1)
        finally:
            prefetch.stop()
        notes = list(getattr(src, "notes", []))
        source_name = src.name
    if not written:
        raise ValueError(f"{source}: no frames to predict")
    manifest = {
        "checkpoint": str(checkpoint),
        "source": str(source),
        "source_name": source_name,
        "frames": len(written),
        "decoder": decoder,
        "protocol": "single-scale (the paper's protocol)" if tta is None else f"test-time augmentation: {tta.describe()}",
        "tta": None if tta is None else tta.spec(),
        "ids": ids_name,
        "class_names": list(meta.class_names),
        "resolution": "each frame at its own size" if size is None else
                      f"resized to the area of {size[0]}x{size[1]}, labels decoded at the frame's own size",
        "device": str(dev),
        "dtype": dtype,
        "outputs": {"labels": "labels/", **({"color": "color/"} if colour else {}), **({"offsets": "offsets/"} if offsets else {})},
        "notes": notes,
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_text(out / "predict.json", json.dumps(manifest, indent=1))
    return manifest
