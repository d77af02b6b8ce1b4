"""`gun predict`: per-frame label maps in the dataset's own ids (Cityscapes labelIds with the
server's file names, CamVid class indices), optionally colour images and the offset field."""

from __future__ import annotations

import argparse
import sys

from gun.commands.common import add_input_size
from gun.experiments.predict import PREDICT_DECODERS, predict
from gun.experiments.predict import __doc__ as PREDICT_DOC
from gun.runtime.device import DTYPES
from gun.runtime.tta import TTA


def parse_tta(text: str) -> TTA:
    """--tta: 'flip', '0.75,1,1.25' or 'flip,0.75,1,1.25'."""
    try:
        return TTA.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


TTA_HELP = ("test-time augmentation: 'flip' (horizontal), scales like '0.75,1,1.25', or both ('flip,0.75,1,1.25'); "
            "logits are averaged at the frame's pixels, each scale decoded by the GUM. Default: single-scale, "
            "the paper's protocol")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="write per-frame label maps (benchmark-ready) of a folder, video or image",
                              description=PREDICT_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help=".safetensors written by gun train")
    p.add_argument("--source", required=True, help="folder of images (Cityscapes leftImg8bit/... or CamVid split), video or image")
    p.add_argument("--out", required=True, help="output folder (labels/, color/, offsets/, predict.json)")
    p.add_argument("--decoder", choices=PREDICT_DECODERS, help="default: gum when the model has a guidance module, else bilinear")
    p.add_argument("--tta", type=parse_tta, metavar="SPEC", help=TTA_HELP)
    p.add_argument("--color", action="store_true", help="also write colour images (color/)")
    p.add_argument("--offsets", action="store_true", help="also write the GUM's offset field at frame size (offsets/*.npz)")
    p.add_argument("--train-ids", action="store_true", help="Cityscapes: write trainIds (0-18) instead of the official labelIds")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32",
                   help="network precision (bfloat16/float16 = autocast); decoding is always float32")
    add_input_size(p)
    p.add_argument("--limit", type=int, help="the first N frames only")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that already holds predictions")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    m = predict(args.checkpoint, args.source, args.out, args.decoder, args.tta, args.color, args.offsets, args.train_ids,
                args.device, args.dtype, args.input_size, args.limit, args.overwrite, progress=not args.no_progress)
    for note in m["notes"]:
        print(f"gun predict: note: {note}", file=sys.stderr)
    print(f"wrote {m['frames']} label maps ({m['ids']}, {m['decoder']}, {m['protocol']}) to {args.out}/labels "
          f"in {m['seconds']:.1f} s; see {args.out}/predict.json")
    return 0
