"""`gun models`: every preset with its parameter count and GFLOPs."""

from __future__ import annotations

import argparse

from gun.commands.common import parse_size


def register(sub: argparse._SubParsersAction) -> None:
    from gun.nn.config import ENCODERS, PRESETS

    p = sub.add_parser("models", help="list every preset with its parameter count and GFLOPs")
    p.add_argument("--size", type=parse_size, default=(1024, 2048), help="input HxW (default 1024x2048)")
    p.add_argument("--encoder", nargs="+", choices=ENCODERS, default=list(ENCODERS))
    p.add_argument("--classes", type=int, default=19)
    p.add_argument("--preset", nargs="+", choices=list(PRESETS), help="only these presets")
    p.add_argument("--scales", type=float, nargs="+", help="override the branch scales (presets with as many branches)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gun.nn.config import PRESETS, preset
    from gun.nn.profile import count_flops, count_params

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
