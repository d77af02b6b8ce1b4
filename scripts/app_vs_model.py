"""The app's frame rate against the model alone, interleaved in one process (issue 9: the app on the
bundled sample shows >= 0.8x the model-alone FPS).

Separate runs of `gun bench` and `main.py` on a shared host drift by up to a third between
minutes, so each round here plays the real app (its window, worker, prefetcher, scoring and
drawing) for a few frames, pauses it, and times the model alone on the same cores a second later,
exactly as `gun bench --decoder gum` times it (a normalised input of the model's inference size
through the same backend and precision, then the GUM's labels at that size). The report is the
median of the rounds' ratios; live scoring keeps no ground truth between frames here, so a looping
clip is scored as on its first pass. The app plays at full speed (`main.py --full-speed`): held to
a video's frame rate it cannot show more than that (assets/vtest.avi is 10 FPS, the drive 15).

    xvfb-run -a -s "-screen 0 1366x768x24" python scripts/app_vs_model.py [SOURCE] --weights W --rounds 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", nargs="?", help="video, image or folder (default: the bundled drive)")
    p.add_argument("--weights", default="weights/gun_effnet_camvid.safetensors")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--frames", type=int, default=20, help="frames the app draws per round (the first 3 not timed)")
    p.add_argument("--runs", type=int, default=10, help="timed runs of the model alone per round (after 2 untimed)")
    return p.parse_args()


def model_alone(weights: str, dtype: str):
    """A runner timing what `gun bench --decoder gum` times, built from the same checkpoint with the
    app's backend choice ("auto") and precision."""
    import torch

    from gun.experiments.bench import make_runner
    from gun.nn.checkpoint import load_model
    from gun.runtime.backends import create_backend
    from gun.runtime.frames import padded_size

    model, meta = load_model(weights, "cpu")
    size = tuple(meta.input_size) if meta.input_size else (540, 720)
    x = torch.randn(1, 3, *padded_size(size[0], size[1], model.input_multiple))
    backend = create_backend("auto", model.eval(), torch.device("cpu"), dtype)
    return make_runner(backend, model, "gum", x, size), size


def main() -> int:
    args = parse_args()
    import numpy as np
    import torch
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import app.scoring
    import main as app_main
    from gun.experiments.bench import cpu_model, time_alternating

    keep_rings = app.scoring.LiveScores.__init__

    def first_pass_scoring(self: app.scoring.LiveScores, num_classes: int, twin: bool) -> None:
        keep_rings(self, num_classes, twin)
        self.gun.ring_cache_bytes = 0  # a looping clip scored as on its first pass: no rings kept

    app.scoring.LiveScores.__init__ = first_pass_scoring  # type: ignore[method-assign]

    qt = QApplication.instance() or QApplication(sys.argv[:1])
    window = app_main.create_window(app_main.parse_args([*([args.source] if args.source else []), "--weights", args.weights,
                                                                "--full-speed"]))  # not held to the video's frame rate
    window.state.loop = True
    worker = window.worker
    arrivals: list[float] = []
    worker.frameReady.connect(lambda bundle: bundle.playing and arrivals.append(time.perf_counter()))
    rounds: list[tuple[float, float]] = []
    runner = None

    def step() -> None:
        nonlocal runner
        info = window.model
        if info is None or len(arrivals) < args.frames:  # still loading, or playing a round
            QTimer.singleShot(20, step)
            return
        if runner is None:  # the first round warmed the app up: build the model alone like it
            runner, size = model_alone(args.weights, info.dtype)
            print(f"{cpu_model()}, {os.cpu_count()} cores; app: {info.description}; model alone at {size[0]}x{size[1]}")
        worker.play(False)
        QTimer.singleShot(400, lambda: time_model(list(arrivals[3:])))  # the frames in flight land first

    def time_model(shown: list[float]) -> None:
        app_fps = (len(shown) - 1) / (shown[-1] - shown[0])
        threads = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)  # as gun bench runs: the app's threads are idle now
        ms = time_alternating({"gum": runner}, 2, args.runs, torch.device("cpu"))["gum"]  # gun bench's own loop
        torch.set_num_threads(threads)
        model_fps = 1000 / statistics.median(ms)
        rounds.append((app_fps, model_fps))
        print(f"round {len(rounds)}: app {app_fps:.2f} FPS, model alone {model_fps:.2f} FPS: {app_fps / model_fps:.3f}x",
              flush=True)
        if len(rounds) > args.rounds:
            finish()
            return
        arrivals.clear()
        worker.play(True)
        QTimer.singleShot(20, step)

    def finish() -> None:
        timed = rounds[1:]  # round 0 warmed up
        ratios = [a / m for a, m in timed]
        print(f"median of {len(timed)} rounds: app {statistics.median(a for a, _ in timed):.2f} FPS, model alone "
              f"{statistics.median(m for _, m in timed):.2f} FPS, ratio {statistics.median(ratios):.3f}x "
              f"(rounds {min(ratios):.3f}-{max(ratios):.3f}, quartiles {np.percentile(ratios, 25):.3f}-{np.percentile(ratios, 75):.3f})")
        window.close()

    QTimer.singleShot(20, step)
    qt.exec()
    window.shutdown()
    return 0 if len(rounds) > args.rounds else 1


if __name__ == "__main__":
    os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
    sys.exit(main())
