"""Where things are read from and written to: dropped paths, dataset roots, screenshots.

No widgets: the presenter asks, these answer with paths and one-line messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gun.io.base import IMAGE_EXTENSIONS, WEIGHTS_EXTENSIONS

SPLITS = ("val", "test", "train")  # the split a dataset root opens on, in order of preference


@dataclass
class Drop:
    """What to do with the paths of one drop."""

    weights: str | None = None
    source: str | None = None
    note: str = ""  # says which of several files was used, or which split of a dataset root
    ignored: list[str] = field(default_factory=list)


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir() if p.is_file())


def dataset_split(folder: Path) -> tuple[Path, str] | None:
    """A CamVid-style root (split folders such as val/ with valannot/ beside them, no images of its
    own) -> (the split to play, a note naming the others); None for any other folder."""
    try:
        if not folder.is_dir() or _has_images(folder):
            return None
        splits = [s for s in SPLITS if (folder / s).is_dir() and _has_images(folder / s)]
    except OSError:
        return None
    if not splits:
        return None
    chosen = folder / splits[0]
    others = [s for s in splits[1:]]
    also = f" (also here: {', '.join(others)}/; drop one to play it)" if others else ""
    truth = " with ground truth" if (folder / f"{splits[0]}annot").is_dir() else ""
    return chosen, f"{folder.name} is a dataset root: playing its {splits[0]}/ split{truth}{also}"


def sort_drop(paths: list[str]) -> Drop:
    """Weights and at most one source out of the dropped paths; the rest is named in the note."""
    drop = Drop()
    weights = [p for p in paths if Path(p).suffix.lower() in WEIGHTS_EXTENSIONS]
    sources = [p for p in paths if p not in weights]
    notes = []
    if weights:
        drop.weights = weights[0]
        drop.ignored += weights[1:]
    if sources:
        drop.source = sources[0]
        drop.ignored += sources[1:]
        split = dataset_split(Path(sources[0]))
        if split is not None:
            drop.source, note = str(split[0]), split[1]
            notes.append(note)
    if drop.ignored:
        used = " and ".join(Path(p).name for p in (drop.weights, sources[0] if sources else None) if p)
        notes.insert(0, f"{len(paths)} files dropped: using {used}; ignored {', '.join(Path(p).name for p in drop.ignored)}")
    drop.note = "; ".join(notes)
    return drop


def screenshot_folder() -> Path:
    """The user's Pictures folder (XDG), GUN/ inside it; the home folder's GUN/ without one."""
    from PySide6.QtCore import QStandardPaths

    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    base = Path(pictures) if pictures else Path.home()
    return base / "GUN"


def next_screenshot_path(folder: Path, stem: str) -> Path:
    """An unused `stem-N.png` in folder (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "gun"
    n = 1
    while (folder / f"{safe}-{n}.png").exists():
        n += 1
    return folder / f"{safe}-{n}.png"


def writable_folder(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)
