"""Rebuild assets/camvid_0016E5.mp4 and its labels from CamVid val (see assets/README.md).

    python assets/make_camvid_clip.py ../shared/data/camvid
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from gun.data.labels import camvid_lut
from gun.io.labelled_video import labels_path

FIRST, LAST = 8039, 8159  # 0016E5_08039 .. 0016E5_08159: 61 frames, every 2nd frame of the 30 fps drive
FPS = 15.0  # every second frame of 30 fps: real time
OUT = Path(__file__).resolve().parent / "camvid_0016E5.mp4"


def main(root: str) -> None:
    names = [f"0016E5_{n:05d}.png" for n in range(FIRST, LAST + 1, 2)]
    images = [cv2.imread(str(Path(root) / "val" / n)) for n in names]
    labels = [cv2.imread(str(Path(root) / "valannot" / n), cv2.IMREAD_GRAYSCALE) for n in names]
    if any(i is None for i in images + labels):
        sys.exit(f"missing CamVid val frames under {root}")
    writer = cv2.VideoWriter(str(OUT), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (480, 360))
    for image in images:
        writer.write(image)
    writer.release()
    lut = camvid_lut()  # 0..10 kept, 11 (Void) -> 255 (ignored)
    np.savez_compressed(labels_path(OUT), labels=np.stack([lut[a] for a in labels]), names=np.array(names))
    print(f"wrote {OUT} and {labels_path(OUT)}: {len(names)} frames")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/camvid")
