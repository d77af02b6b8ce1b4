"""The GUN desktop demo.

    python main.py [SOURCE] [--webcam N] [--weights F] [--device auto|cpu|cuda] [--frames N] [--screenshot PNG]

SOURCE is a video, an image, a folder of images (Cityscapes or CamVid layouts add ground truth)
or camera:N; the default is the bundled sample video. With --frames N the app quits after
drawing N frames (saving the window to --screenshot PNG first, when given).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_SOURCE = ROOT / "assets" / "vtest.avi"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gun.paths import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(prog="main.py", description="GUN live demo: GUM vs bilinear upsampling, guidance field, metrics.")
    p.add_argument("source", nargs="?", help=f"video, image, folder or camera:N (default {DEFAULT_SOURCE.relative_to(ROOT)})")
    p.add_argument("--webcam", type=int, metavar="N", help="use camera N instead of SOURCE")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="checkpoint (.safetensors)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    p.add_argument("--view", choices=("single", "side-by-side", "wipe"), default="single")
    p.add_argument("--guidance", action="store_true", help="start with the offset arrows shown")
    p.add_argument("--frames", type=int, metavar="N", help="quit after drawing N frames")
    p.add_argument("--screenshot", metavar="PNG", help="with --frames: save the window to PNG before quitting")
    args = p.parse_args(argv)
    if args.screenshot and not args.frames:
        p.error("--screenshot needs --frames N (the screenshot is taken after N frames)")
    if args.frames is not None and args.frames < 1:
        p.error("--frames must be at least 1")
    return args


def create_window(args: argparse.Namespace):
    """The shown main window, playing args' source with args' weights (a QApplication must exist)."""
    from app.window import MainWindow

    window = MainWindow(frames_limit=args.frames)
    state = window.state
    state.layout, state.arrows, state.device, state.dtype = args.view, args.guidance, args.device, args.dtype
    window.show()
    if Path(args.weights).is_file():
        window.load_weights(args.weights)
    else:
        state.say(f"weights {args.weights} not found: showing frames without segmentation. "
                  "Train them (see README) or drop a .safetensors file on the window.", error=True)
    window.open_source(f"camera:{args.webcam}" if args.webcam is not None else (args.source or str(DEFAULT_SOURCE)))
    return window


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import numpy as np
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("GUN demo")
    started = time.perf_counter()
    window = create_window(args)

    def finish() -> None:
        elapsed = time.perf_counter() - started
        if args.screenshot:
            window.grab().save(args.screenshot)
            print(f"saved {args.screenshot}")
        print(f"drew {window.frames_drawn} frames in {elapsed:.1f} s (including start-up)")
        stats = window.performance.medians()
        if window.frames_drawn > 5 and np.isfinite(stats["fps"]):
            stages = ", ".join(f"{k[:-3]} {v:.1f}" for k, v in stats.items() if k.endswith("_ms"))
            print(f"after warm-up (medians): app {stats['fps']:.2f} FPS, model alone {stats['model_fps']:.2f} FPS; "
                  f"ms per stage: {stages}")
        window.close()

    window.framesLimitReached.connect(finish)
    code = app.exec()
    window.shutdown()
    return code


if __name__ == "__main__":
    os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
    sys.exit(main())
