"""A scaled-down soak (scripts/soak.py): 200 frames of a tiny looping video through the export path,
then repeated open/close of the source and the weights; resident memory and thread count stay flat
(< 5% growth after warm-up). The full soak is a documented command (the README's Reliability section)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from conftest import write_video

ROOT = Path(__file__).resolve().parent.parent


def _soak_module():
    spec = importlib.util.spec_from_file_location("soak", ROOT / "scripts" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_process_status_reads_this_process() -> None:
    rss, threads = _soak_module().process_status()
    assert 10 < rss < 100_000 and threads >= 1


def test_looping_source_loops(tmp_path: Path) -> None:
    soak = _soak_module()
    with soak.LoopingSource(write_video(tmp_path / "v.avi", frames=3, size=(32, 48)), 8) as source:
        frames = list(source)
    assert [f.index for f in frames] == list(range(8))
    assert (frames[0].image == frames[3].image).all() and (frames[1].image == frames[7].image).all()


def test_scaled_down_soak_is_flat(checkpoint: Path, tmp_path: Path) -> None:
    soak = _soak_module()
    video = write_video(tmp_path / "v.avi", frames=10, size=(32, 48))
    samples = soak.soak(video, checkpoint, frames=200, every=10, reopen=10, out=tmp_path / "soak.mp4")
    export = [s for s in samples if s["phase"] == "export"]
    reopen = [s for s in samples if s["phase"] == "reopen"]
    assert len(export) == 20 and len(reopen) == 10
    assert (tmp_path / "soak.mp4").is_file()
    for part in (export, reopen):
        for key in ("rss_mb", "threads"):
            assert soak.growth(part, key, 0.25) < 0.05, (key, part)
