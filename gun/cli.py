"""The `gun` command: parses arguments and calls the modules that do the work."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

# modules that add their own subcommand with register(subparsers)
_COMMAND_MODULES = ("gun.evaluate_cli", "gun.trimap", "gun.bench", "gun.annotate_cli", "gun.curves")


def write_json(path: str | Path, report: dict) -> None:
    """Write a command's report as JSON (creating the folder) and say where."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


def parse_size(text: str) -> tuple[int, int]:
    """'1024x2048' -> (1024, 2048) as (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HxW, e.g. 1024x2048, got {text!r}") from None
    if h < 32 or w < 32:
        raise argparse.ArgumentTypeError(f"size must be at least 32x32, got {text!r}")
    return h, w


def cmd_models(args: argparse.Namespace) -> int:
    from gun.config import PRESETS, preset
    from gun.profile import count_flops, count_params

    h, w = args.size
    print(f"{'preset':<16} {'encoder':<19} {'scales':<15} {'guidance':<9} {'params (M)':>10} {'GFLOPs':>8}   at {h}x{w}, {args.classes} classes")
    names = args.preset or list(PRESETS)
    for name in names:
        for enc in args.encoder:
            if args.scales and len(args.scales) != len(PRESETS[name].scales):
                continue  # --scales applies to presets with that many branches
            overrides = {"scales": tuple(args.scales)} if args.scales else {}
            cfg = preset(name, encoder=enc, num_classes=args.classes, **overrides)
            params = count_params(cfg)
            gflops = count_flops(cfg, (h, w)) / 1e9
            scales = "+".join(f"{s:g}" for s in cfg.scales)
            print(f"{name:<16} {enc:<19} {scales:<15} {cfg.guidance or '-':<9} {params / 1e6:>10.2f} {gflops:>8.1f}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from gun.train import TrainOptions, train

    opts = TrainOptions(
        preset=args.preset, encoder=args.encoder, dataset=args.dataset, data_root=args.data_root, out=args.out,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
        weight_decay=args.weight_decay, schedule=args.schedule, lr_step=args.lr_step, crop=tuple(args.crop),
        scales=tuple(args.scales) if args.scales else None,
        random_scale=None if args.no_random_scale else (args.scale_min, args.scale_max), flip=not args.no_flip,
        color_jitter=args.color_jitter, lighting=args.lighting,
        encoder_weights=None if args.encoder_weights == "none" else args.encoder_weights,
        train_split=args.train_split, val_split=args.val_split, val_every=args.val_every, workers=args.workers,
        precision=args.precision, seed=args.seed, resume=args.resume, max_steps_per_epoch=args.max_steps,
        progress=not args.no_progress,
    )
    train(opts)
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from gun.checkpoint import release

    metrics: dict = {}
    for path in args.metrics or []:
        report = json.loads(open(path).read())
        key = f"{report.get('dataset', 'data')}_{report.get('split', 'split')}"
        decoders = report.get("decoders") or {report.get("decoder", "model"): report}
        for name, r in decoders.items():
            metrics[f"{key}_miou_{name}"] = r["miou"]
            metrics[f"{key}_per_class_{name}"] = r["per_class"]
    meta = release(args.checkpoint, args.out, metrics)
    print(f"wrote {args.out} (float16, {meta.dataset}, metrics: {', '.join(k for k in meta.metrics if 'per_class' not in k)})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from gun.config import ENCODERS, PRESETS

    parser = argparse.ArgumentParser(prog="gun", description="Guided Upsampling Network: models, training, evaluation, speed.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list every preset with its parameter count and GFLOPs")
    p.add_argument("--size", type=parse_size, default=(1024, 2048), help="input HxW (default 1024x2048)")
    p.add_argument("--encoder", nargs="+", choices=ENCODERS, default=list(ENCODERS))
    p.add_argument("--classes", type=int, default=19)
    p.add_argument("--preset", nargs="+", choices=list(PRESETS), help="only these presets")
    p.add_argument("--scales", type=float, nargs="+", help="override the branch scales (presets with as many branches)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("train", help="train a preset (torchrun --nproc_per_node=N for several GPUs)")
    p.add_argument("--preset", choices=list(PRESETS), default="gun")
    p.add_argument("--encoder", choices=ENCODERS, default="drn_d_22")
    p.add_argument("--dataset", choices=("cityscapes", "camvid"), default="cityscapes")
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True, help="run folder: checkpoints, history.json, train_state.pt")
    p.add_argument("--epochs", type=int, default=250)
    p.add_argument("--batch-size", type=int, default=8, help="global batch (split over processes)")
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", choices=("step", "poly"), default="step")
    p.add_argument("--lr-step", type=int, default=100, help="epochs between x0.1 steps (schedule step)")
    p.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), default=(896, 896))
    p.add_argument("--scales", type=float, nargs="+", help="branch input scales, largest first (default: the preset's)")
    p.add_argument("--no-random-scale", action="store_true")
    p.add_argument("--scale-min", type=float, default=0.5)
    p.add_argument("--scale-max", type=float, default=2.0)
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--color-jitter", type=float, default=0.0, help="brightness/saturation/contrast strength (0 = off)")
    p.add_argument("--lighting", type=float, default=0.0, help="PCA lighting noise sigma (paper: 0.1; 0 = off)")
    p.add_argument("--encoder-weights", default="imagenet",
                   help="'imagenet' (Lite0: from its pip package), a .pth file (DRN: drn_d_22-4bd2f8ea.pth), or 'none'")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--val-every", type=int, default=1, help="epochs between validations (0 = never)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    p.add_argument("--max-steps", type=int, help="cap steps per epoch (smoke runs)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("release", help="write a lean float16 copy of a checkpoint with measured metrics")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", nargs="*", help="JSON reports of gun eval to record in the metadata")
    p.set_defaults(func=cmd_release)

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"gun {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gun {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
