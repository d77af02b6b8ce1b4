"""`gun trimap`: mIoU in bands around ground-truth boundaries (the paper's section 5)."""

from __future__ import annotations

import argparse

from gun.commands.common import write_json
from gun.data import DATASETS
from gun.experiments.trimap import DEFAULT_MAX_BAND, format_table, plot, trimap_experiment
from gun.experiments.trimap import __doc__ as TRIMAP_DOC
from gun.runtime.device import DTYPES


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("trimap", help="mIoU in bands around ground-truth boundaries (paper section 5)",
                              description=TRIMAP_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a model; with guidance, both its GUM and bilinear decoding are drawn")
    p.add_argument("--checkpoint2", nargs="+", default=[], metavar="G",
                   help="one or more further models, e.g. the twin trained with bilinear upsampling and other guidance modules")
    p.add_argument("--dataset", choices=list(DATASETS), required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--out", required=True, help="the plot (.png)")
    p.add_argument("--json", help="bands, pixel counts and mIoU per curve")
    p.add_argument("--max-band", type=int, default=DEFAULT_MAX_BAND, help=f"widest band in pixels (default {DEFAULT_MAX_BAND}); every width 1..N is measured")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32")
    p.add_argument("--limit", type=int, help="use the first N images only")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checkpoints = [args.checkpoint, *args.checkpoint2]
    report = trimap_experiment(checkpoints, args.dataset, args.data_root, args.split, args.max_band, args.device,
                               args.dtype, args.limit, progress=not args.no_progress)
    print(format_table(report))
    plot(report, args.out)
    print(f"wrote {args.out}")
    if args.json:
        write_json(args.json, report)
    return 0
