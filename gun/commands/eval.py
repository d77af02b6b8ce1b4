"""`gun eval`: mIoU, per-class IoU, pixel accuracy and confusion matrix of a checkpoint on a dataset split."""

from __future__ import annotations

import argparse

from gun.commands.common import add_input_size, write_json
from gun.commands.predict import TTA_HELP, parse_tta
from gun.data import DATASETS
from gun.experiments.evaluate import DECODER_CHOICES, evaluate, format_table
from gun.experiments.evaluate import __doc__ as EVAL_DOC
from gun.runtime.device import DTYPES


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="mIoU / per-class IoU / pixel accuracy of a checkpoint on a dataset split",
                              description=EVAL_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help=".safetensors written by gun train")
    p.add_argument("--dataset", choices=list(DATASETS), required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--decoder", choices=DECODER_CHOICES,
                   help="default: both (gum and bilinear) when the model has a guidance module, else bilinear; "
                        "shift = the GUM with each image's offsets replaced by their mean (one global translation); all = all three (bilinear alone without guidance)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", choices=["auto", *DTYPES], default="float32",
                   help="network precision (bfloat16/float16 = autocast); decoding is always float32; auto needs --backend")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime", "openvino"],
                   help="run the network on this backend (gun.runtime.backends; default: plain torch)")
    add_input_size(p)
    p.add_argument("--tta", type=parse_tta, metavar="SPEC", help=TTA_HELP + "; its scores are reported next to the single-scale ones")
    p.add_argument("--json", help="write the full report (with confusion matrices) here")
    p.add_argument("--limit", type=int, help="evaluate the first N images only")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = evaluate(args.checkpoint, args.dataset, args.data_root, args.split, args.decoder, args.device,
                      args.dtype, args.limit, progress=not args.no_progress, input_size=args.input_size,
                      tta=args.tta, backend=args.backend)
    if not any(map(any, report["confusion"])):  # every metric would be "-": say why instead of succeeding
        raise ValueError(f"no labelled pixel in {args.dataset} {args.split} ({report['images']} images): every label is void/ignored; "
                         "check the annotations and --data-root")
    print(format_table(report))
    if args.json:
        write_json(args.json, report)
    return 0
