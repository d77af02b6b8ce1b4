"""The trimap experiment (paper section 5, Figure 4a): mIoU in bands of growing width around the
ground-truth boundaries, GUM against bilinear decoding of the same network.

The paper has no boundary class to dilate on Cityscapes, so "for each object class independently
we computed the distance transform on ground-truth maps", then raised a threshold on it. Here:

- distance: for every pixel of class c, the exact Euclidean distance (cv2.distanceTransform,
  DIST_L2, precise) to the nearest pixel that is not c. A pixel whose 4-neighbour has another
  label is at distance 1, a diagonal neighbour gives sqrt(2). Both sides of a boundary get small
  distances (each side is measured in its own class's transform), so band d is a strip about 2d
  pixels wide. A class's edge against an ignore region counts as a boundary (the ground truth
  changes there); ignore pixels themselves are never scored. The image border is not a boundary.
- band d: the non-ignored pixels at distance <= d, for d = 1, 2, ..., max_band (every pixel width:
  the bands are nested, so one histogram over rounded-up distances gives them all at once).
- per band, a confusion matrix over its pixels and its mIoU (classes present in the band's ground
  truth or prediction), at the dataset's native resolution.

    gun trimap --checkpoint runs/gun/best.safetensors --checkpoint2 runs/bilinear/best.safetensors \\
        --dataset cityscapes --data-root DATA --split val --out trimap.png --json trimap.json
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gun.data.labels import IGNORE
from gun.data.segdata import SegmentationDataset
from gun.experiments.evaluate import choose_decoders, open_checked
from gun.metrics.boundary import band_confusion, band_mious, boundary_distance
from gun.nn.layers import channel_argmax
from gun.nn.model import GUN
from gun.runtime.device import DTYPES, autocast_dtype, resolve_device
from gun.runtime.frames import decode, prepare, to_tensor

DEFAULT_MAX_BAND = 32


# ---- running models over a dataset -------------------------------------------------------------

@dataclass
class Curve:
    """One line of the plot: a checkpoint decoded one way, accumulated over the images."""

    name: str
    checkpoint: str
    decoder: str
    model_has_guidance: bool
    cms: np.ndarray  # (B, C, C) band confusion matrices
    cm_all: np.ndarray  # (C, C) every non-ignored pixel


def _model_name(path: str | Path) -> str:
    """runs/gun_effnet/best.safetensors -> 'gun_effnet/best'; my_model.safetensors -> 'my_model'."""
    p = Path(path)
    return f"{p.parent.name}/{p.stem}" if p.stem in ("last", "best") and p.parent.name else p.stem


def trimap_experiment(checkpoints: Sequence[str | Path], dataset: str, data_root: str | Path, split: str,
                      max_band: int = DEFAULT_MAX_BAND, device: str = "auto", dtype: str = "float32",
                      limit: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Band mIoU for every decoder of every checkpoint (one forward pass per image and model)."""
    if max_band < 1:
        raise ValueError(f"--max-band must be at least 1, got {max_band}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    dev = resolve_device(device)
    bands = list(range(1, max_band + 1))
    models: list[tuple[GUN, SegmentationDataset, list[Curve], tuple[int, int] | None]] = []
    names = [_model_name(c) for c in checkpoints]
    if len(set(names)) < len(names):
        names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    for ckpt, name in zip(checkpoints, names):
        model, meta, ds = open_checked(ckpt, dataset, data_root, split, dev)
        C = ds.num_classes
        curves = [Curve(f"{name} {'GUM' if d == 'gum' else 'bilinear'}", str(ckpt), d, model.guidance is not None,
                        np.zeros((len(bands), C, C), np.int64), np.zeros((C, C), np.int64))
                  for d in choose_decoders(None, model)]
        models.append((model, ds, curves, meta.input_size))
    first = models[0][1]
    if any(len(ds) != len(first) for _, ds, _, _ in models):
        raise ValueError("the checkpoints opened the split with different image counts")
    n = len(first) if limit is None else min(limit, len(first))
    C = first.num_classes
    amp = autocast_dtype(dtype)

    with torch.inference_mode():
        for i in tqdm(range(n), desc=f"trimap {dataset} {split}", disable=not progress, dynamic_ncols=True):
            img, target = first.load(i)  # raw RGB uint8 and train ids at native size
            dist = boundary_distance(target)
            frame = to_tensor(img, dev)
            for model, _, curves, input_size in models:
                prep = prepare(frame, model.mean, model.std, model.input_multiple, input_size)
                with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
                    out = model(prep.x, full=False)
                for curve in curves:
                    pred = channel_argmax(decode(model, out, prep, curve.decoder))[0].cpu().numpy()  # type: ignore[arg-type]
                    curve.cms += band_confusion(dist, target, pred, bands, C)
                    keep = target != IGNORE
                    curve.cm_all += np.bincount(target[keep].astype(np.int64) * C + pred[keep], minlength=C * C).reshape(C, C)

    curves = [c for _, _, cs, _ in models for c in cs]
    pixels = curves[0].cms.sum(axis=(1, 2)).tolist()  # the same pixels for every curve
    return {
        "dataset": first.name,
        "split": split,
        "images": n,
        "device": str(dev),
        "dtype": dtype,
        "distance": "Euclidean distance (px, native resolution) to the nearest pixel of another ground-truth label; "
                    "band d = non-ignored pixels at distance <= d",
        "bands": bands,
        "pixels": pixels,
        "pixels_total": int(curves[0].cm_all.sum()),
        "curves": {
            c.name: {
                "checkpoint": c.checkpoint,
                "decoder": c.decoder,
                "model_has_guidance": c.model_has_guidance,
                "miou": band_mious(c.cms),
                "pixel_acc": [float(np.trace(cm) / cm.sum()) if cm.sum() else None for cm in c.cms],
                "miou_all": band_mious(c.cm_all[None])[0],
            }
            for c in curves
        },
    }


# ---- the figure ---------------------------------------------------------------------------

def _as_pct(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else 100 * v for v in values])


def plot(report: dict[str, Any], path: str | Path) -> None:
    """mIoU (%) against band width, one line per checkpoint and decoder; with several curves a
    second panel shows each curve minus the first bilinear one (the paper's baseline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    bands, curves = report["bands"], report["curves"]
    # the paper's baseline is the network trained with bilinear upsampling; without one, the
    # GUM model's own bilinear decoding
    bilinear = [n for n, c in curves.items() if c["decoder"] == "bilinear"]
    baseline = next((n for n in bilinear if not curves[n]["model_has_guidance"]), bilinear[0] if bilinear else None)
    others = [n for n in curves if n != baseline]
    two = baseline is not None and others
    fig, axes = plt.subplots(2 if two else 1, 1, figsize=(7, 6.5 if two else 4.5), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]} if two else None)
    ax = axes[0, 0]
    for name, c in curves.items():
        ax.plot(bands, _as_pct(c["miou"]), marker="o", markersize=3, label=f"{name} (all pixels {100 * (c['miou_all'] or 0):.1f})")
    ax.set_ylabel("mIoU (%) within the band")
    ax.set_title(f"Trimap: {report['dataset']} {report['split']}, {report['images']} images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if two:
        ax2 = axes[1, 0]
        base = _as_pct(curves[baseline]["miou"])
        for name in others:
            ax2.plot(bands, _as_pct(curves[name]["miou"]) - base, marker="o", markersize=3, label=f"{name} - {baseline}")
        ax2.axhline(0, color="grey", lw=0.8)
        ax2.set_ylabel("difference (points)")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8)
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1, 0].set_xlabel("band width: distance to a ground-truth boundary (px)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_table(report: dict[str, Any], rows: Sequence[int] = (1, 2, 4, 8, 16, 32)) -> str:
    """mIoU (%) per curve at a few band widths, then over all pixels."""
    names = list(report["curves"])
    width = max(len(n) for n in names) + 2
    shown = [b for b in rows if b in report["bands"]]
    if report["bands"][-1] not in shown:
        shown.append(report["bands"][-1])
    col = max(7, len(str(report["pixels_total"])) + 2)
    lines = [f"trimap mIoU (%) on {report['dataset']} {report['split']}, {report['images']} images",
             f"{'band (px)':<{width}}" + "".join(f"{b:>{col}}" for b in shown) + f"{'all':>{col}}"]
    for n in names:
        c = report["curves"][n]
        cells = [c["miou"][report["bands"].index(b)] for b in shown] + [c["miou_all"]]
        lines.append(f"{n:<{width}}" + "".join(f"{'-' if v is None else f'{100 * v:.1f}':>{col}}" for v in cells))
    lines.append(f"{'pixels':<{width}}" + "".join(f"{report['pixels'][report['bands'].index(b)]:>{col}}" for b in shown)
                 + f"{report['pixels_total']:>{col}}")
    return "\n".join(lines)
