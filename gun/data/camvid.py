"""CamVid in the SegNet layout: split NAME reads images from NAME/ and labels from NAMEannot/."""

from __future__ import annotations

from pathlib import Path

from gun.data.labels import CAMVID_CLASSES, CAMVID_PALETTE, camvid_lut
from gun.data.segdata import SegmentationDataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class CamVid(SegmentationDataset):
    name = "camvid"
    class_names = CAMVID_CLASSES
    palette = CAMVID_PALETTE
    native_size = (360, 480)

    def __init__(self, root: str | Path, split: str, **kwargs: object) -> None:
        root = Path(root)
        images, labels = root / split, root / f"{split}annot"
        for d in (images, labels):
            if not d.is_dir():
                raise FileNotFoundError(f"CamVid split {split!r}: expected folder {d} (SegNet layout: {split}/ images, {split}annot/ labels)")
        pairs = []
        # images may be re-encoded (e.g. .webp to travel light); labels are always lossless .png
        for img in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            lab = labels / f"{img.stem}.png"
            if not lab.is_file():
                raise FileNotFoundError(f"CamVid: label {lab} missing for image {img}")
            pairs.append((img, lab))
        if not pairs:
            raise FileNotFoundError(f"CamVid split {split!r}: no images ({', '.join(IMAGE_SUFFIXES)}) in {images}")
        super().__init__(pairs, camvid_lut(), **kwargs)  # type: ignore[arg-type]
