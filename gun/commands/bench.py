"""`gun bench`: batch-1 inference speed, GUM vs bilinear decoding, backend vs backend, vs the floor."""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from gun.commands.common import parse_size, write_json
from gun.experiments.bench import __doc__ as BENCH_DOC
from gun.experiments.bench import benchmark, format_table, load_bench_model, markdown_rows
from gun.experiments.bench_plot import plot, plot_sweep
from gun.io.files import atomic_write_text
from gun.nn.config import ENCODERS, PRESETS
from gun.runtime.backends import CHOICES, check_names
from gun.runtime.device import DTYPES, resolve_device


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="batch-1 inference speed: GUM vs bilinear, backend vs backend, vs the matmul floor",
                              description=BENCH_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), help="architecture (default gun); not with --checkpoint")
    p.add_argument("--encoder", choices=ENCODERS, help="default drn_d_22; not with --checkpoint")
    p.add_argument("--checkpoint", help="take the architecture (and weights) from this checkpoint")
    p.add_argument("--classes", type=int, help="number of classes (default 19); not with --checkpoint")
    p.add_argument("--scales", type=float, nargs="+", help="branch input scales, largest first (default: the preset's)")
    p.add_argument("--size", type=parse_size, nargs="+", default=[(1024, 2048)],
                   help="frame HxW (default 1024x2048, the paper's); several sizes = a sweep (plot: FPS against size)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--backend", nargs="+", default=["torch"], metavar="NAME",
                   help=f"one or more of {', '.join(CHOICES)}, timed alternately in one run (default torch)")
    p.add_argument("--dtype", choices=["auto", *DTYPES], default="float32",
                   help="bfloat16/float16: autocast (torch) or inference precision (openvino); auto: bf16 on CPUs with native bf16, "
                        "float32 on other CPUs, float16 on CUDA")
    p.add_argument("--decoder", choices=("gum", "bilinear", "both"), help="default: both with a guidance module, else bilinear")
    p.add_argument("--gum-mode", choices=("bilinear", "nearest"), default="bilinear",
                   help="GUM sampling: bilinear (eq. 4 on logits, as trained) or nearest (eq. 2 on labels)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (CPU; onnxruntime and openvino get the same)")
    p.add_argument("--fold-bn", action="store_true", help="torch: fold BatchNorm into the convolutions first")
    p.add_argument("--channels-last", action="store_true", help="torch: NHWC memory format")
    p.add_argument("--cuda-graphs", action="store_true", help="torch on CUDA: capture the forward once, replay it")
    p.add_argument("--compile", action="store_true", help="torch: torch.compile the forward (slow to start)")
    p.add_argument("--roofline", action="store_true", help="measure the matmul rate in each precision used; report floor and multiple")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--plot", help="write a chart (.png): bars for one size, FPS against size for several")
    p.add_argument("--markdown", help="write README speed-table rows (with this command) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_names(args.backend)
    device = resolve_device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.classes is not None and args.classes < 1:
        raise ValueError(f"--classes must be positive, got {args.classes}")
    if args.cuda_graphs and device.type != "cuda":
        raise ValueError("--cuda-graphs needs --device cuda")
    model, preset_name = load_bench_model(args.checkpoint, args.preset, args.encoder, args.classes, args.scales)
    has_gum = model.guidance is not None
    decoder = args.decoder or ("both" if has_gum else "bilinear")
    decoders = ("gum", "bilinear") if decoder == "both" else (decoder,)
    reports = []
    for size in args.size:
        report = benchmark(model, size, device, args.dtype, decoders, args.warmup, args.runs, args.fold_bn, args.channels_last,
                           args.gum_mode, preset_name, args.backend, args.cuda_graphs, args.compile, args.roofline)
        report["checkpoint"] = args.checkpoint
        print(format_table(report))
        reports.append(report)
    if args.json:
        write_json(args.json, reports[0] if len(reports) == 1 else {"sweep": reports})
    if args.plot:
        if len(reports) == 1:
            plot(reports[0], args.plot)
        else:
            plot_sweep(reports, args.plot)
        print(f"wrote {args.plot}")
    if args.markdown:
        # the command as typed (`gun bench ...` or `python -m gun.cli bench ...`)
        command = "gun bench " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "gun bench (called from Python)"
        rows = [row for r in reports for row in markdown_rows(r, command)]
        atomic_write_text(args.markdown, "\n".join(rows) + "\n")
        print(f"wrote {args.markdown}")
    return 0
