"""Pack CamVid train+val compactly for a trip to a lent GPU machine (the whole tree that travels must
stay under 64 MiB): images as WebP, labels as 8-bit PNG (lossless), same SegNet layout, so
`gun train --data-root PACKED` reads it as it is; plus Lite0's ImageNet weights in float16.

    python scripts/pack_camvid.py --src ../shared/data/camvid --out .gpu-pack   # .gpu-pack is git-ignored

Prints the packed size. CamVid is CC BY-NC 4.0: the pack is for training only, never committed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import torch

from gun.nn.encoders.efficientnet_lite import load_imagenet_state_dict


def pack(src: Path, out: Path, quality: int, splits: tuple[str, ...]) -> int:
    total = 0
    for split in splits:
        for sub, suffix in ((split, ".webp"), (f"{split}annot", ".png")):
            (out / sub).mkdir(parents=True, exist_ok=True)
            files = sorted((src / sub).glob("*.png"))
            if not files:
                raise SystemExit(f"pack_camvid: no .png files in {src / sub}: is --src a CamVid (SegNet layout) folder?")
            for f in files:
                target = out / sub / f"{f.stem}{suffix}"
                if suffix == ".webp":
                    img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                    ok = cv2.imwrite(str(target), img, [cv2.IMWRITE_WEBP_QUALITY, quality])
                else:
                    lab = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
                    ok = cv2.imwrite(str(target), lab, [cv2.IMWRITE_PNG_COMPRESSION, 9])
                if not ok:
                    raise SystemExit(f"pack_camvid: cannot write {target}")
                total += target.stat().st_size
    weights = out / "efficientnet_lite0_imagenet_fp16.pth"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in load_imagenet_state_dict().items()}, weights)
    total += weights.stat().st_size
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", default="../shared/data/camvid")
    p.add_argument("--out", default=".gpu-pack")
    p.add_argument("--quality", type=int, default=85, help="WebP quality (85: about 20 MiB for train+val with the weights)")
    p.add_argument("--splits", nargs="+", default=["train", "val"])
    args = p.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    size = pack(Path(args.src), out, args.quality, tuple(args.splits))
    print(f"packed {', '.join(args.splits)} into {out}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
