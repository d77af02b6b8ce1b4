"""Still images as frame sources: one image, a folder of images, and folders in the dataset layouts
that carry ground truth (CamVid's `val/` + `valannot/`, Cityscapes' leftImg8bit/ + gtFine/).

The label tables come from gun.data.labels; they are not restated here. A frame whose annotation
is missing is served without ground truth and the source says so in a note.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from gun.io.base import (
    IMAGE_EXTENSIONS,
    Frame,
    FrameSource,
    SourceError,
    bgr_to_rgb,
    bound_frame,
    check_readable,
    decode_image,
    downscale_note,
    read_label_map,
)


class _ImageList(FrameSource):
    """A list of image files, with optional ground-truth label files beside them."""

    def __init__(self, images: list[Path], name: str, labels: list[Path | None] | None = None,
                 lut: np.ndarray | None = None) -> None:
        if not images:
            raise SourceError(f"{name}: no images found (looked for {', '.join(IMAGE_EXTENSIONS[:4])}, ...)")
        self.name = name
        self._images = images
        self._labels = labels or [None] * len(images)
        self._lut = lut
        self.frame_count = len(images)
        self.fps: float = 4.0  # pace of stills when played (a folder is often a sequence)
        self._next = 0

    @property
    def has_ground_truth(self) -> bool:
        return any(p is not None for p in self._labels)

    def _note_missing_annotations(self, where: str) -> None:
        missing = [p for p, lab in zip(self._images, self._labels) if lab is None]
        if missing and len(missing) < len(self._images):
            self.note(f"{len(missing)} of {len(self._images)} images have no annotation in {where} (first: {missing[0].name}): "
                      f"they are shown and scored without ground truth")

    def read(self) -> Frame | None:
        if self._next >= len(self._images):
            return None
        i = self._next
        self._next += 1
        decoded = decode_image(self._images[i])
        labels = None
        label_path = self._labels[i]
        if label_path is not None:
            labels = read_label_map(label_path, self._lut)
            if labels.shape != decoded.shape[:2]:
                raise SourceError(f"{label_path.name}: label map size {labels.shape} differs from the image's {decoded.shape[:2]}")
        image = bound_frame(decoded)
        if image is not decoded:
            self.note(downscale_note(self._images[i].name, decoded.shape))
            if labels is not None:  # labels follow the pixels, without inventing classes between them
                labels = cv2.resize(labels, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        return Frame(bgr_to_rgb(image), i, i / self.fps, labels, name=self._images[i].name)  # time at the pace played and exported

    def seek(self, index: int) -> None:
        self._next = min(max(0, index), len(self._images) - 1)


class ImageSource(_ImageList):
    """One still image."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = check_readable(path, "image file")
        super().__init__([path], path.name)


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


class ImageFolderSource(_ImageList):
    """The images of a folder in sorted order (not recursive).

    CamVid layout: when the folder (say `val/`) has a sibling `valannot/` holding label PNGs with
    the same names, those are the ground truth (CamVid's 11 classes; Void = 11 -> ignored).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = check_readable(folder, "folder")
        try:
            images = _images_in(folder)
        except OSError as e:
            raise SourceError(f"cannot list {folder}: {e.strerror}") from None
        annot = folder.parent / f"{folder.name}annot"
        labels, lut = None, None
        if annot.is_dir():
            from gun.data.labels import camvid_lut

            labels = [annot / p.name if (annot / p.name).is_file() else None for p in images]
            lut = camvid_lut()
        super().__init__(images, folder.name, labels, lut)
        if labels is not None:
            self._note_missing_annotations(f"{annot.name}/")


def cityscapes_label_path(image: Path) -> Path:
    """leftImg8bit/{split}/{city}/{name}_leftImg8bit.png -> gtFine/.../{name}_gtFine_labelIds.png."""
    parts = list(image.parts)
    idx = len(parts) - 1 - parts[::-1].index("leftImg8bit")
    parts[idx] = "gtFine"
    parts[-1] = parts[-1].replace("_leftImg8bit", "_gtFine_labelIds")
    return Path(*parts)


class CityscapesFolderSource(_ImageList):
    """Cityscapes frames under a folder (the dataset root, leftImg8bit/, a split or a city).

    Where gtFine/..._gtFine_labelIds.png exists for a frame, its labelIds are mapped to trainIds
    (19 classes, 255 = ignored) and served as ground truth.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        folder = check_readable(folder, "folder")
        root = folder / "leftImg8bit" if (folder / "leftImg8bit").is_dir() else folder
        try:
            images = [p for p in _images_in(root, recursive=True) if p.name.endswith("_leftImg8bit.png")]
        except OSError as e:
            raise SourceError(f"cannot list {root}: {e.strerror}") from None
        labels: list[Path | None] = []
        for image in images:
            label = cityscapes_label_path(image) if "leftImg8bit" in image.parts else None
            labels.append(label if label is not None and label.is_file() else None)
        lut = None
        if any(labels):
            from gun.data.labels import LABEL_ID_TO_TRAIN_ID

            lut = LABEL_ID_TO_TRAIN_ID
        super().__init__(images, f"Cityscapes {folder.name}", labels, lut)
        if lut is not None:
            self._note_missing_annotations("gtFine/")


def is_cityscapes_folder(folder: Path) -> bool:
    if "leftImg8bit" in folder.parts or (folder / "leftImg8bit").is_dir():
        return True
    return next(folder.glob("*_leftImg8bit.png"), None) is not None
