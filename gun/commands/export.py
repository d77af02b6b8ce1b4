"""`gun export`: a checkpoint or a preset as an ONNX graph, checked with ONNX Runtime."""

from __future__ import annotations

import argparse
from pathlib import Path

from gun.commands.common import parse_size, write_json
from gun.experiments.bench import load_bench_model
from gun.experiments.export import __doc__ as EXPORT_DOC
from gun.experiments.export import export_model, format_report
from gun.nn.config import ENCODERS, PRESETS
from gun.runtime.backends.onnx_export import HEADS, OPSET


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a model to ONNX (opset >= 17, GUM as GridSample), checked with onnxruntime",
                              description=EXPORT_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="the model (architecture and weights) to export")
    p.add_argument("--preset", choices=[*PRESETS, "all"], help="an architecture with random weights instead (all: every preset)")
    p.add_argument("--encoder", choices=[*ENCODERS, "all"], help="with --preset (default drn_d_22; all: both)")
    p.add_argument("--classes", type=int, help="with --preset (default 19)")
    p.add_argument("--scales", type=float, nargs="+", help="branch input scales, largest first (default: the model's)")
    p.add_argument("--size", type=parse_size, help="frame HxW, rounded up to the input multiple "
                                                   "(default: the checkpoint's input size, else 1024x2048)")
    p.add_argument("--head", choices=HEADS, default="labels", help="labels: GUM-decoded labels at the input size; "
                                                                   "network: low-resolution logits and offsets (what the backends run)")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET}; at least 17)")
    p.add_argument("--out", required=True, help="the .onnx file (a folder with several models: --preset all / --encoder all)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime check against PyTorch")
    p.add_argument("--json", help="write the report(s) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.checkpoint is None and args.preset is None:
        raise ValueError("give --checkpoint FILE or --preset NAME (all for every preset)")
    presets = list(PRESETS) if args.preset == "all" else [args.preset]
    encoders = list(ENCODERS) if args.encoder == "all" else [args.encoder]
    many = len(presets) * len(encoders) > 1
    out = Path(args.out)
    if not many and out.suffix.lower() != ".onnx":
        raise ValueError(f"--out must end in .onnx, got {out.name}")
    reports = []
    for name in presets:
        for encoder in encoders:
            model, preset_name = load_bench_model(args.checkpoint, name, encoder, args.classes, args.scales)
            size = args.size
            if size is None and args.checkpoint is not None:
                from gun.nn.checkpoint import read_meta

                size = read_meta(args.checkpoint).input_size
            size = tuple(size) if size is not None else (1024, 2048)
            path = out / f"{preset_name}_{model.config.encoder}.onnx" if many else out
            info = {"preset": preset_name, "checkpoint": args.checkpoint}
            report = export_model(model, size, path, args.head, args.opset, check=not args.no_check,
                                  info={k: v for k, v in info.items() if v is not None})
            print(format_report(report))
            reports.append(report)
    if args.json:
        write_json(args.json, reports if many else reports[0])
    return 0
