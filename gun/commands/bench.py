"""`gun bench`: batch-1 inference speed, GUM vs bilinear decoding."""

from __future__ import annotations

import argparse

import torch

from gun.commands.common import parse_size, write_json
from gun.experiments.bench import __doc__ as BENCH_DOC
from gun.experiments.bench import benchmark, format_table, load_bench_model, plot
from gun.nn.config import ENCODERS, PRESETS
from gun.runtime.device import DTYPES, resolve_device


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="batch-1 inference speed, GUM vs bilinear decoding",
                              description=BENCH_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), help="architecture (default gun); not with --checkpoint")
    p.add_argument("--encoder", choices=ENCODERS, help="default drn_d_22; not with --checkpoint")
    p.add_argument("--checkpoint", help="take the architecture (and weights) from this checkpoint")
    p.add_argument("--classes", type=int, help="number of classes (default 19); not with --checkpoint")
    p.add_argument("--scales", type=float, nargs="+", help="branch input scales, largest first (default: the preset's)")
    p.add_argument("--size", type=parse_size, default=(1024, 2048), help="input frame HxW (default 1024x2048, the paper's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32", help="bfloat16/float16 = autocast")
    p.add_argument("--decoder", choices=("gum", "bilinear", "both"), help="default: both with a guidance module, else bilinear")
    p.add_argument("--gum-mode", choices=("bilinear", "nearest"), default="bilinear",
                   help="GUM sampling: bilinear (eq. 4 on logits, as trained) or nearest (eq. 2 on labels)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    p.add_argument("--fold-bn", action="store_true", help="fold BatchNorm into the convolutions first")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--plot", help="write a bar chart of the timings (.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.classes is not None and args.classes < 1:
        raise ValueError(f"--classes must be positive, got {args.classes}")
    model, preset_name = load_bench_model(args.checkpoint, args.preset, args.encoder, args.classes, args.scales)
    has_gum = model.guidance is not None
    decoder = args.decoder or ("both" if has_gum else "bilinear")
    decoders = ("gum", "bilinear") if decoder == "both" else (decoder,)
    report = benchmark(model, args.size, device, args.dtype, decoders, args.warmup, args.runs, args.fold_bn,
                       args.channels_last, args.gum_mode, preset_name)
    report["checkpoint"] = args.checkpoint
    print(format_table(report))
    if args.json:
        write_json(args.json, report)
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}")
    return 0
