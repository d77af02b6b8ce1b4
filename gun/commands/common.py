"""Argument types and report writing shared by the `gun` subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gun.io.files import atomic_write_text


def write_json(path: str | Path, report: dict | list) -> None:
    """Write a command's report as JSON (creating the folder, atomically) and say where."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(report, indent=1))
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


def parse_input_size(text: str) -> tuple[int, int] | str:
    """--input-size: 'HxW', or 'native' (each frame at its own size)."""
    return "native" if text == "native" else parse_size(text)


def add_input_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-size", type=parse_input_size, metavar="HxW|native",
                   help="run the network at this size (frames keep their aspect ratio and every map comes back at the "
                        "frame's own size); default: the checkpoint's input size")
