"""Where a model's logits sit: val mIoU of bilinear decoding with the whole map translated by a
constant (dx, dy), in low-resolution pixels, over a grid of translations.

A model whose logits sit where the geometry says peaks at (0, 0). The 72.76 twin does (best +0.06
at (0, +0.15)); the 74.66 GUN's own logits peak near (+0.15, +0.3), +0.63 over (0, 0) (the shipped
74.77 GUN's +0.50): its network learned them displaced, and its offsets spent part of their range
undoing that (docs/training.md).

    python scripts/shift_scan.py --checkpoint F [F ...] --data-root ../shared/data/camvid [--split val] [--steps -0.3 -0.15 0 0.15 0.3]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gun.data import open_dataset
from gun.data.segdata import SegmentationDataset
from gun.metrics.confusion import confusion_matrix, scores
from gun.nn.checkpoint import load_model
from gun.nn.model import GUN
from gun.runtime.frames import inference_size, prepare, to_tensor

Shift = tuple[float, float]


def shift_scan(model: GUN, input_size: tuple[int, int] | None, data: SegmentationDataset,
               shifts: Sequence[Shift]) -> dict[Shift, float]:
    """mIoU over `data` of the model's logits decoded bilinearly after translating the map by each
    (dx, dy) of `shifts` (the GUM with that constant offset everywhere; (0, 0) is bilinear decoding
    exactly as `gun eval` runs it)."""
    cms = {s: torch.zeros(data.num_classes, data.num_classes, dtype=torch.long) for s in shifts}
    with torch.no_grad():
        for i in range(len(data)):
            image, labels = data.load(i)
            prep = prepare(to_tensor(image), model.mean, model.std, model.input_multiple, inference_size(labels.shape, input_size))
            low = model(prep.x, full=False).low_logits.float()
            y = torch.from_numpy(labels).long()
            for (dx, dy), cm in cms.items():
                offsets = torch.tensor([dx, dy]).view(1, 2, 1, 1).expand(1, 2, *prep.size)
                cm += confusion_matrix(model.decode(low, offsets, prep.size, prep.target).argmax(1)[0], y, data.num_classes)
    return {s: scores(cm).miou for s, cm in cms.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", nargs="+", required=True)
    p.add_argument("--dataset", choices=("camvid", "cityscapes"), default="camvid")
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--steps", type=float, nargs="+", default=[-0.3, -0.15, 0.0, 0.15, 0.3],
                   help="the translations along each axis, low-resolution pixels")
    args = p.parse_args(argv)
    try:
        scan(args.checkpoint, args.dataset, args.data_root, args.split, args.steps)
    except (ValueError, OSError) as e:  # a bad path, dataset or checkpoint: one line, no traceback
        print(f"shift_scan: error: {e}", file=sys.stderr)
        return 2
    return 0


def scan(checkpoints: Sequence[str], dataset: str, data_root: str, split: str, steps: Sequence[float]) -> None:
    data = open_dataset(dataset, data_root, split)
    shifts = list(itertools.product(steps, steps))
    for path in checkpoints:
        model, meta = load_model(path)
        miou = shift_scan(model, meta.input_size, data, shifts)
        base = miou.get((0.0, 0.0))
        best = max(miou, key=lambda s: miou[s])
        print(f"{path}: {dataset} {split}, bilinear decoding of the map translated by (dx, dy) low-res px")
        print("| dy \\ dx | " + " | ".join(f"{dx:+.2f}" for dx in steps) + " |")
        print("|---|" + "---:|" * len(steps))
        for dy in steps:
            print(f"| {dy:+.2f} | " + " | ".join(f"{100 * miou[(dx, dy)]:.2f}" for dx in steps) + " |")
        gain = "" if base is None else f", {100 * (miou[best] - base):+.2f} over (0, 0)"
        print(f"best: ({best[0]:+.2f}, {best[1]:+.2f}) {100 * miou[best]:.2f}{gain}\n", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
