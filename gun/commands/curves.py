"""`gun curves`: learning curves of training runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from gun.experiments.curves import plot_curves


def run(args: argparse.Namespace) -> int:
    plot_curves([Path(r) for r in args.runs], Path(args.out))
    print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("curves", help="plot learning curves of training runs")
    p.add_argument("runs", nargs="+", help="run folders (or history.json files) written by gun train")
    p.add_argument("--out", required=True, help="PNG to write")
    p.set_defaults(func=run)
