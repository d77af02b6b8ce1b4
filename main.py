"""The GUN desktop demo.

    python main.py [SOURCE] [--webcam N] [--weights F] [--device auto|cpu|cuda] [--full-speed] [--frames N] [--screenshot PNG]

SOURCE is a video, an image, a folder of images (Cityscapes or CamVid layouts add ground truth)
or camera:N; the default is the bundled CamVid driving clip with its ground truth (live mIoU).
With --frames N the app quits after drawing N frames (saving the window to --screenshot PNG
first, when given); such a run exits 1 with a one-line message when its source or weights failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_SOURCE = ROOT / "assets" / "camvid_0016E5.mp4"  # in the model's domain, with ground truth
VIEWS = ("single", "side-by-side", "wipe", "offsets")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gun.paths import DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(prog="main.py", description="GUN live demo: GUM vs bilinear upsampling, guidance field, metrics.")
    p.add_argument("source", nargs="?", help=f"video, image, folder or camera:N (default {DEFAULT_SOURCE.relative_to(ROOT)}; "
                   "assets/vtest.avi is an out-of-domain example)")
    p.add_argument("--webcam", type=int, metavar="N", help="use camera N instead of SOURCE")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                   help="checkpoint (.safetensors); a bilinear_effnet_camvid.safetensors beside it is shown as the twin")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                   help="auto: bfloat16 on a CPU with native bf16 (AMX, AVX512-BF16), float32 on other CPUs, float16 on CUDA")
    p.add_argument("--view", choices=VIEWS, default="single", help="offsets: the learned offsets as flow colours and arrows")
    p.add_argument("--guidance", action="store_true", help="start with the offset arrows shown")
    p.add_argument("--full-speed", action="store_true",
                   help="play videos as fast as the model allows, not at their frame rate (what --frames timings want)")
    p.add_argument("--frames", type=int, metavar="N", help="quit after drawing N frames")
    p.add_argument("--screenshot", metavar="PNG", help="with --frames: save the window to PNG before quitting")
    args = p.parse_args(argv)
    if args.screenshot and not args.frames:
        p.error("--screenshot needs --frames N (the screenshot is taken after N frames)")
    if args.frames is not None and args.frames < 1:
        p.error("--frames must be at least 1")
    if args.screenshot and not Path(args.screenshot).expanduser().resolve().parent.is_dir():
        p.error(f"--screenshot {args.screenshot}: its folder does not exist; create it or pick another path")
    return args


def create_window(args: argparse.Namespace):
    """The shown main window, playing args' source with args' weights (a QApplication must exist)."""
    from app.window import MainWindow

    window = MainWindow(frames_limit=args.frames)
    state = window.state
    state.device, state.dtype = args.device, args.dtype
    state.full_speed = args.full_speed
    if args.view == "offsets":
        state.overlay, state.flow, state.arrows = False, True, True
    else:
        state.layout, state.arrows = args.view, args.guidance
    window.show()
    window.load_weights(args.weights)  # a missing or bad file is a message in the window (and exit 1 in a --frames run)
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
    error: list[str] = []

    def finish() -> None:
        elapsed = time.perf_counter() - started
        problem = window.presenter.script_error()
        if problem:
            error.append(problem)
        if args.screenshot:
            if window.grab().save(args.screenshot):
                print(f"saved {args.screenshot}")
            else:
                error.append(f"cannot write {args.screenshot}: check the folder is writable")
        print(f"drew {window.frames_drawn} frames in {elapsed:.1f} s (including start-up)")
        stats = window.performance.medians()
        if window.frames_drawn > 5 and np.isfinite(stats["fps"]):
            stages = ", ".join(f"{k[:-3]} {v:.1f}" for k, v in stats.items() if k.endswith("_ms") and np.isfinite(v))
            print(f"after warm-up (medians): app {stats['fps']:.2f} FPS, model alone {stats['model_fps']:.2f} FPS; "
                  f"ms per stage: {stages}")
            info = window.presenter.source_info
            if not args.full_speed and info is not None and info.holds_back(stats["fps"]):
                print(f"the app was held to the video's {info.fps:g} FPS: --full-speed plays it as fast as the model allows")
        window.close()

    window.framesLimitReached.connect(finish)
    code = app.exec()
    window.shutdown()
    if error:
        print(f"main.py: error: {error[0]}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
    sys.exit(main())
