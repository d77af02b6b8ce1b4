"""`gun release`: a lean float16 copy of a checkpoint with measured metrics in its metadata."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("release", help="write a lean float16 copy of a checkpoint with measured metrics")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", nargs="*", help="JSON reports of gun eval to record in the metadata")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gun.nn.checkpoint import release

    metrics: dict = {}
    for path in args.metrics or []:
        try:
            report = json.loads(Path(path).read_text())
        except ValueError as e:  # JSON or UTF-8 errors name no file
            raise ValueError(f"--metrics {path}: not a JSON report of gun eval ({e})") from None
        try:
            key = f"{report.get('dataset', 'data')}_{report.get('split', 'split')}"
            decoders = report.get("decoders") or {report.get("decoder", "model"): report}
            for name, r in decoders.items():
                metrics[f"{key}_miou_{name}"] = r["miou"]
                metrics[f"{key}_per_class_{name}"] = r["per_class"]
        except (KeyError, TypeError, AttributeError):
            raise ValueError(f"--metrics {path}: not a JSON report of gun eval (no miou/per_class)") from None
    meta = release(args.checkpoint, args.out, metrics)
    print(f"wrote {args.out} (float16, {meta.dataset}, metrics: {', '.join(k for k in meta.metrics if 'per_class' not in k)})")
    return 0
