"""`gun annotate SOURCE --out clip.mp4`: segment a video, image, folder or camera and write the
annotated result (mp4v .mp4 plus a per-frame CSV sidecar). Registered by gun.cli."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gun.paths import DEFAULT_WEIGHTS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `annotate` subcommand to the `gun` command's subparsers."""
    from gun.render.annotate import VIEWS

    p = subparsers.add_parser("annotate", help="write an annotated video of a source (video, image, folder, camera:N)",
                              description="Segment a video, image, folder or camera and write the annotated result: "
                                          "an mp4v .mp4 (written atomically) and a per-frame CSV sidecar with stage "
                                          "timings, mIoU against ground truth when the source has it, and the classes present.")
    p.add_argument("source", help="video file, image, folder of images, Cityscapes folder, or camera:N")
    p.add_argument("--out", required=True, help="output .mp4 (written atomically; a .csv sidecar goes beside it)")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help=f"checkpoint (default {DEFAULT_WEIGHTS.name})")
    p.add_argument("--view", choices=list(VIEWS), default="overlay",
                   help="overlay: classes + legend; offsets: guidance field as flow colours and arrows; "
                        "side-by-side: GUM | bilinear | disagreement; grid: the same 2 x 2 with ground truth "
                        "(or the offsets) as the fourth panel; wipe: GUM left, bilinear right")
    p.add_argument("--frames", type=int, help="stop after N frames (required for cameras)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity 0..1")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                   help="auto: bfloat16 on a CPU with native bf16, float32 on other CPUs, float16 on CUDA")
    p.add_argument("--backend", default="auto", help="network backend: auto, torch, onnxruntime or openvino (gun.runtime.backends)")
    p.add_argument("--gum-mode", choices=("bilinear", "nearest"), default="bilinear",
                   help="GUM sampling at inference (bilinear = as trained; nearest = faster, label space)")
    p.add_argument("--no-sidecar", action="store_true", help="do not write the per-frame CSV")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from gun.io.files import check_output
    from gun.io.sources import open_source
    from gun.render.annotate import VIEWS
    from gun.runtime.clip import export_video
    from gun.runtime.segmenter import Segmenter

    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"--out must end in .mp4 (OpenCV here writes mp4v), got {out.name}")
    if args.frames is not None and args.frames < 1:
        raise ValueError("--frames must be at least 1")
    if not 0.0 <= args.alpha <= 1.0:  # also refuses nan
        raise ValueError("--alpha must be within 0..1")
    weights = Path(args.weights)
    if not weights.exists() and not weights.is_symlink():
        raise FileNotFoundError(f"weights {weights} not found: train them (see README) or pass --weights FILE")
    # before any work: an output that is an input, a folder or unwritable is refused now, not after the run
    inputs = [args.source, args.weights]
    check_output(out, inputs)
    side = out.with_suffix(".csv") if not args.no_sidecar else None
    if side is not None:
        check_output(side, inputs, what="the CSV sidecar")
    with open_source(args.source) as source:  # before the model: a bad source fails in a second
        segmenter = Segmenter.from_checkpoint(weights, args.device, args.dtype, args.gum_mode, backend=args.backend)
        view = replace(VIEWS[args.view], alpha=args.alpha)
        notes = []
        if args.view == "offsets" and not segmenter.has_guidance:
            notes.append(f"{weights.name} has no guidance module: the offset view is the plain frame")
        total = source.frame_count if args.frames is None else args.frames
        bar = tqdm(total=total, unit="frame", desc=out.name, disable=args.no_progress)

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = export_video(source, segmenter, out, view, segmenter.class_names, segmenter.palette,
                                  frames=args.frames, sidecar=side is not None, progress=progress)
        finally:
            bar.close()
        notes += source.notes
    if args.frames is not None and report.frames < args.frames:
        notes.append(f"--frames {args.frames} asked for more than the {report.frames} frames of {source.name}: wrote all {report.frames}")
    if report.ground_truth_frames and not report.labelled_pixels:
        notes.append(f"the ground truth of {source.name} labels no pixel (every value is void/ignored): no scores in the sidecar")
    for note in notes:
        print(f"gun annotate: note: {note}", file=sys.stderr)
    extra = f" and {report.sidecar}" if report.sidecar else ""
    print(f"wrote {report.frames} frames to {report.path}{extra} ({segmenter.description})")
    return 0
