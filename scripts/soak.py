"""Soak test of the export path (`gun annotate`'s logic): a looping video for N frames, then repeated
open/close of the source and the weights, reporting resident memory and thread count over time.

    python scripts/soak.py --video assets/vtest.avi --weights weights/gun_effnet_camvid.safetensors \\
        --frames 5000 --every 250 --reopen 50 --json soak.json

Memory and threads are read from /proc/self/status (Linux). After the warm-up (the first
--warmup-fraction of the samples) both must stay within --max-growth (default 5%) of their level at
the end of the warm-up; the exit status is 1 when they do not.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gun.io.base import Frame, FrameSource
from gun.io.sources import open_source


def process_status() -> tuple[float, int]:
    """(resident memory in MB, thread count) of this process, from /proc/self/status."""
    rss, threads = 0.0, 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


class LoopingSource(FrameSource):
    """A source played from the start again whenever it ends, for `frames` frames in all."""

    def __init__(self, spec: str | Path, frames: int) -> None:
        self._source = open_source(spec)
        self.name = self._source.name
        self.fps = self._source.fps or 10.0
        self.frame_count = frames
        self._done = 0

    def read(self) -> Frame | None:
        if self._done >= self.frame_count:  # type: ignore[operator]
            return None
        frame = self._source.read()
        if frame is None:
            self._source.seek(0)
            frame = self._source.read()
        if frame is None:
            raise RuntimeError(f"{self.name} gave no frame after seeking to its start")
        frame.index = self._done
        self._done += 1
        return frame

    def close(self) -> None:
        self._source.close()


def growth(samples: list[dict], key: str, warmup_fraction: float) -> float:
    """Relative growth of samples[key] from the end of the warm-up to the largest later value."""
    start = max(1, int(len(samples) * warmup_fraction)) - 1
    base = samples[start][key]
    later = [s[key] for s in samples[start:]]
    return (max(later) - base) / base if base else 0.0


def soak(video: str | Path, weights: str | Path, frames: int, every: int, reopen: int = 0, out: str | Path | None = None,
         view: str = "overlay", backend: str = "torch", device: str = "cpu",
         report: Callable[[dict], None] | None = None) -> list[dict]:
    """Run the export over a looping `video` for `frames` frames, then open/close the source and load the
    weights `reopen` times; returns the samples ({phase, step, seconds, rss_mb, threads})."""
    from gun.render.annotate import VIEWS
    from gun.runtime.clip import export_video
    from gun.runtime.segmenter import Segmenter

    samples: list[dict] = []
    t0 = time.perf_counter()

    def sample(phase: str, step: int) -> None:
        rss, threads = process_status()
        samples.append({"phase": phase, "step": step, "seconds": round(time.perf_counter() - t0, 2), "rss_mb": round(rss, 1), "threads": threads})
        if report is not None:
            report(samples[-1])

    segmenter = Segmenter.from_checkpoint(weights, device, gum_mode="bilinear", backend=backend)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(out) if out is not None else Path(tmp) / "soak.mp4"
        with LoopingSource(video, frames) as source:
            export_video(source, segmenter, target, VIEWS[view], segmenter.class_names, segmenter.palette, frames=frames,
                         progress=lambda done, total: sample("export", done) if done % every == 0 else None)
    for i in range(1, reopen + 1):
        with open_source(video) as source:
            source.read()
        Segmenter.from_checkpoint(weights, device, backend=backend)
        sample("reopen", i)
    return samples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", default=str(ROOT / "assets" / "vtest.avi"))
    p.add_argument("--weights", required=True)
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--every", type=int, default=250, help="sample memory and threads every N frames")
    p.add_argument("--reopen", type=int, default=50, help="then open/close the source and load the weights N times")
    p.add_argument("--view", default="overlay")
    p.add_argument("--backend", default="torch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--warmup-fraction", type=float, default=0.2)
    p.add_argument("--max-growth", type=float, default=0.05)
    p.add_argument("--json", help="write the samples and the verdict here")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print("phase   step  seconds  rss_mb  threads")
    samples = soak(args.video, args.weights, args.frames, args.every, args.reopen, view=args.view, backend=args.backend, device=args.device,
                   report=lambda s: print(f"{s['phase']:<7} {s['step']:>5} {s['seconds']:>8} {s['rss_mb']:>7} {s['threads']:>8}", flush=True))
    verdict = {}
    for phase in ("export", "reopen"):
        part = [s for s in samples if s["phase"] == phase]
        if len(part) >= 2:
            verdict[phase] = {k: round(growth(part, k, args.warmup_fraction), 4) for k in ("rss_mb", "threads")}
    ok = all(v <= args.max_growth for g in verdict.values() for v in g.values())
    for phase, g in verdict.items():
        print(f"{phase}: after warm-up, resident memory {g['rss_mb']:+.1%}, threads {g['threads']:+.1%}")
    print("flat" if ok else f"GROWING (more than {args.max_growth:.0%})")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "samples": samples, "growth": verdict, "flat": ok}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
