"""Evaluation (`gun eval`, validation in `gun train`): mIoU, per-class IoU, pixel accuracy and the
confusion matrix of a checkpoint on a dataset split, for the GUM decoder, the bilinear decoder, or
both from one forward pass per image. Every frame goes through gun.runtime.frames, exactly as in
the app; labels are scored at the frame's own size.

    gun eval --checkpoint runs/gun/best.safetensors --dataset cityscapes --data-root DATA --split val --json val.json

The helpers here (device choice, opening a checkpoint with a dataset it matches, choosing the
decoders a model has) are shared with `gun trimap`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from gun.data import open_dataset
from gun.data.segdata import SegmentationDataset
from gun.metrics.boundary import OffsetsNearBoundaries
from gun.metrics.confusion import confusion_matrix, scores
from gun.nn.checkpoint import CheckpointMeta, load_model, read_meta
from gun.nn.layers import channel_argmax
from gun.nn.model import GUN
from gun.runtime.device import DTYPES, autocast_dtype, resolve_device
from gun.runtime.frames import Decoder, resolve_input_size
from gun.runtime.tta import TTA, segment

DECODER_CHOICES = ("gum", "bilinear", "shift", "both", "all")


def evaluate_confusion(model: GUN, dataset: Dataset, num_classes: int, decoders: tuple[Decoder, ...] = ("gum",),
                       device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                       progress: bool = True, desc: str = "eval", input_size: Sequence[int] | None = None,
                       tta: TTA | None = None, offset_stats: OffsetsNearBoundaries | None = None) -> dict[str, torch.Tensor]:
    """Confusion matrix per decoder over the whole dataset (batch 1: native sizes may differ).
    Frames are run at `input_size` (the checkpoint's; None = each frame's own size). With `tta`,
    the test-time-augmented matrices come too, keyed "DECODER+tta"; the plain keys stay single-scale.
    `offset_stats` collects the offset lengths near and away from boundaries (models with guidance)."""
    model.eval()
    keys = list(decoders) + ([f"{d}+tta" for d in decoders] if tta is not None else [])
    cms = {k: torch.zeros(num_classes, num_classes, dtype=torch.int64) for k in keys}
    loader = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0)
    with torch.inference_mode():
        for img, y in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
            seg = segment(model, img.to(device), decoders, input_size, tta, dtype)
            if offset_stats is not None and seg.offsets is not None:
                offset_stats.update(seg.offsets[0].float().cpu().numpy(), y[0].numpy())
            for d in decoders:
                cms[d] += confusion_matrix(channel_argmax(seg.single[d]).cpu(), y, num_classes)
                if tta is not None:
                    cms[f"{d}+tta"] += confusion_matrix(channel_argmax(seg.logits[d]).cpu(), y, num_classes)
    return cms


def check_classes(meta: CheckpointMeta, ds: SegmentationDataset, checkpoint: str | Path) -> None:
    """The checkpoint must predict exactly the dataset's classes, in the same order."""
    ours, theirs = tuple(meta.class_names), tuple(ds.class_names)
    if len(ours) != len(theirs):
        trained = f" (trained on {meta.dataset})" if meta.dataset else ""
        raise ValueError(f"{checkpoint} predicts {len(ours)} classes{trained} but {ds.name} has {len(theirs)}: "
                         f"evaluate it on the dataset it was trained for")
    if ours != theirs:
        bad = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
        raise ValueError(f"{checkpoint}: class {bad} is {ours[bad]!r} but {ds.name}'s class {bad} is {theirs[bad]!r}: "
                         f"the checkpoint was trained with another label set")


def open_checked(checkpoint: str | Path, dataset: str, data_root: str | Path, split: str,
                 device: torch.device) -> tuple[GUN, CheckpointMeta, SegmentationDataset]:
    """Model, metadata and the dataset split normalised as the checkpoint expects, classes checked
    before any weights are read."""
    meta = read_meta(checkpoint)
    ds = open_dataset(dataset, data_root, split)
    check_classes(meta, ds, checkpoint)
    model, meta = load_model(checkpoint, device)
    return model, meta, ds


def choose_decoders(requested: str | None, model: GUN) -> tuple[Decoder, ...]:
    """The decoders to evaluate: None = every decoder the model has (both with guidance); "all" adds
    "shift" to them."""
    has_gum = model.guidance is not None
    if requested is None:
        return ("gum", "bilinear") if has_gum else ("bilinear",)
    if requested not in DECODER_CHOICES:
        raise ValueError(f"unknown decoder {requested!r}: choose one of {', '.join(DECODER_CHOICES)}")
    if requested == "all" and not has_gum:  # every decoder this model has: one
        return ("bilinear",)
    if requested != "bilinear" and not has_gum:
        raise ValueError(f"--decoder {requested}: this model has no guidance module (preset without GUM), "
                         "so it decodes bilinearly only: use --decoder bilinear")
    if requested == "all":
        return ("gum", "bilinear", "shift")
    return ("gum", "bilinear") if requested == "both" else (requested,)  # type: ignore[return-value]


def limited(ds: SegmentationDataset, limit: int | None) -> SegmentationDataset | Subset[Any]:
    """The first `limit` items (all when None)."""
    if limit is None:
        return ds
    if limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    return Subset(ds, range(min(limit, len(ds))))


def _nan_to_none(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def decoder_report(cm: torch.Tensor, class_names: Sequence[str]) -> dict[str, Any]:
    """mIoU, per-class IoU (None for a class absent from both ground truth and prediction),
    pixel accuracy and the confusion matrix (rows = ground truth, columns = prediction)."""
    s = scores(cm)
    return {
        "miou": _nan_to_none(s.miou),
        "per_class": {name: _nan_to_none(v) for name, v in zip(class_names, s.iou)},
        "pixel_acc": _nan_to_none(s.pixel_acc),
        "confusion": cm.tolist(),
    }


def evaluate(checkpoint: str | Path, dataset: str, data_root: str | Path, split: str, decoder: str | None = None,
             device: str = "auto", dtype: str = "float32", limit: int | None = None, progress: bool = True,
             input_size: tuple[int, int] | str | None = None, tta: TTA | str | None = None,
             backend: str | None = None) -> dict[str, Any]:
    """The report that `gun eval` prints and writes. With two decoders the top-level miou,
    per_class, pixel_acc and confusion are the GUM's; `decoders` holds each decoder's and
    `difference` is GUM minus bilinear. Those are always single-scale (the paper's protocol);
    with `tta` (a gun.runtime.tta.TTA or its text, e.g. "flip,0.75,1,1.25") the augmented scores
    come separately under `tta`, with their gain over single-scale per decoder."""
    dev = resolve_device(device)
    if dtype not in DTYPES and not (backend is not None and dtype == "auto"):
        raise ValueError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    model, meta, ds = open_checked(checkpoint, dataset, data_root, split, dev)
    runner, amp = model, (autocast_dtype(dtype) if backend is None else None)
    if backend is not None:  # the network's forward on a backend (gun.runtime.backends), which owns the precision
        from gun.runtime.backends import BackendModel, create_backend, dtype_name

        on_backend = BackendModel(create_backend(backend, model, dev, dtype), model)
        dtype, backend_name = dtype_name(on_backend.backend.dtype), on_backend.backend.name
        runner = cast(GUN, on_backend)  # duck-typed: BackendModel answers every GUN attribute the evaluation uses
    decoders = choose_decoders(decoder, model)
    subset = limited(ds, limit)
    size = resolve_input_size(meta.input_size, input_size)
    tta = TTA.parse(tta) if isinstance(tta, str) else tta
    tta = None if tta is not None and tta.is_single else tta
    offset_stats = OffsetsNearBoundaries() if model.guidance is not None else None
    t0 = time.perf_counter()
    cms = evaluate_confusion(runner, subset, ds.num_classes, decoders, dev, amp, progress,
                             desc=f"eval {dataset} {split}", input_size=size, tta=tta, offset_stats=offset_stats)
    seconds = time.perf_counter() - t0
    per_decoder = {d: decoder_report(cms[d], ds.class_names) for d in decoders}
    main = per_decoder[decoders[0]]
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "preset": meta.preset,
        "dataset": ds.name,
        "split": split,
        "images": len(subset),
        "resolution": "each image at its own size" if size is None else f"resized to the area of {size[0]}x{size[1]}, "
                      "labels decoded at the image's own size",
        "native_size": list(ds.native_size),
        "decoder": {1: decoders[0], 2: "both", 3: "all"}[len(decoders)],
        "device": str(dev),
        "dtype": dtype,
        "backend": backend_name if backend is not None else "torch",
        "protocol": "single-scale (the paper's protocol)" + ("; test-time augmentation reported separately under tta" if tta else ""),
        "class_names": list(ds.class_names),
        **main,
        "decoders": per_decoder,
        "seconds": seconds,
    }
    if "gum" in per_decoder and "bilinear" in per_decoder:
        g, b = per_decoder["gum"], per_decoder["bilinear"]
        report["difference"] = {
            "miou": _diff(g["miou"], b["miou"]),
            "pixel_acc": _diff(g["pixel_acc"], b["pixel_acc"]),
            "per_class": {n: _diff(g["per_class"][n], b["per_class"][n]) for n in ds.class_names},
        }
    if offset_stats is not None:
        report["offsets"] = offset_stats.report()
    if tta is not None:
        augmented = {d: decoder_report(cms[f"{d}+tta"], ds.class_names) for d in decoders}
        report["tta"] = {
            "spec": tta.spec(),
            "description": tta.describe(),
            "decoders": augmented,
            "gain_miou": {d: _diff(augmented[d]["miou"], per_decoder[d]["miou"]) for d in decoders},
        }
    return report


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _pct(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:+.2f}" if signed else f"{100 * v:.2f}"


def format_table(report: dict[str, Any]) -> str:
    """Per-class IoU (%) for each decoder (and the difference), then mIoU and pixel accuracy; with
    test-time augmentation, its columns follow the single-scale ones and a last line says which is which."""
    decoders = list(report["decoders"])
    both = "difference" in report
    tta = report.get("tta")
    short = {"gum": "GUM", "bilinear": "bil."}
    heads = [d.upper() if d == "gum" else d for d in decoders] + (["GUM-bil."] if both else [])
    heads += [f"{short.get(d, d)}+TTA" for d in decoders] if tta else []
    width = max(12, *(len(n) for n in report["class_names"])) + 2
    title = (f"{report['checkpoint']} on {report['dataset']} {report['split']}: {report['images']} images "
             f"({report['resolution']}), {report['device']} {report['dtype']}, {report['seconds']:.1f} s")
    lines = [title,
             f"{'IoU (%)':<{width}}" + "".join(f"{h:>10}" for h in heads)]

    def pick(scores: dict[str, Any], key: str, name: str | None) -> float | None:
        return scores[key] if name is None else scores[key][name]

    def row(label: str, key: str, name: str | None = None) -> str:
        cells = [_pct(pick(report["decoders"][d], key, name)) for d in decoders]
        if both:
            cells.append(_pct(pick(report["difference"], key, name), signed=True))
        if tta:
            cells += [_pct(pick(tta["decoders"][d], key, name)) for d in decoders]
        return f"{label:<{width}}" + "".join(f"{c:>10}" for c in cells)

    lines += [row(n, "per_class", n) for n in report["class_names"]]
    lines.append("-" * (width + 10 * len(heads)))
    lines += [row("mIoU", "miou"), row("pixel acc.", "pixel_acc")]
    if tta:
        gains = ", ".join(f"{short.get(d, d)} {_pct(g, signed=True)}" for d, g in tta["gain_miou"].items())
        lines.append(f"single-scale columns: the paper's protocol; +TTA columns: {tta['description']}; mIoU gain {gains}")
    else:
        lines.append("single-scale (the paper's protocol)")
    off = report.get("offsets")
    if off and off["near_boundary"] is not None and off["elsewhere"]:
        lines.append(f"mean |offset| within {off['within_px']:g} px of a boundary {off['near_boundary']:.3f}, elsewhere "
                     f"{off['elsewhere']:.3f} low-res px: ratio {off['ratio']:.2f}")
        bands = ", ".join(f"{band} {v:.2f}" for band, v in off.get("profile", {}).items() if v is not None)
        lines.append(f"mean |offset| by distance to a boundary (px): {bands}")
    return "\n".join(lines)
