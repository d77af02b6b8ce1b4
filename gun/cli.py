"""The `gun` command: assembles the subcommands of gun.commands, one module each (register/run)."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# The file options each command writes: checked before the command runs (gun.io.files.check_output),
# so that an output that is an input, a folder or unwritable is refused before any work or write.
OUTPUTS = {"annotate": ("out",), "eval": ("json",), "trimap": ("out", "json"), "bench": ("json", "plot"), "release": ("out",),
           "distill": ("out",)}

COMMANDS = ("models", "train", "distill", "release", "eval", "trimap", "bench", "curves", "annotate", "predict", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="gun", description="Guided Upsampling Network: models, training, evaluation, speed.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"gun.commands.{name}").register(sub)
    return parser


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes in one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that `with` blocks remove their partial files."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before anything runs, an output file that is (or resolves to) one of the command's inputs,
    is a folder, or cannot be written; every other path-valued option counts as an input."""
    from gun.io.files import check_output

    names = OUTPUTS.get(args.command, ())
    inputs: list[str] = []
    for key, value in vars(args).items():
        for v in value if isinstance(value, list) else [value]:
            if key not in names and isinstance(v, str) and v and os.path.lexists(v):
                inputs.append(v)
    for key in names:
        if getattr(args, key, None):
            check_output(getattr(args, key), inputs, what=f"--{key}")


def log_path() -> Path:
    """Where tracebacks of unexpected errors go: $GUN_LOG_DIR, else $XDG_STATE_HOME/gun, else ~/.local/state/gun."""
    folder = os.environ.get("GUN_LOG_DIR") or Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "gun"
    return Path(folder) / "errors.log"


def _log_traceback(error: BaseException, argv: Sequence[str]) -> str:
    """Append the traceback to the log; returns where it went (or why it could not)."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} gun {' '.join(argv)}\n")
            f.write("".join(traceback.format_exception(error)))
        return f"details in {path}"
    except OSError as e:
        return f"no log: {path}: {e.strerror}"


def describe(error: BaseException) -> str:
    """One line saying what went wrong (and, for the usual OS errors, what to do)."""
    if isinstance(error, OSError) and error.strerror and not str(error).startswith(("cannot", "writing")):
        where = f"{error.filename}: " if error.filename else ""
        hint = {errno.ENOSPC: " (free some space and run again)", errno.EFBIG: " (the file is larger than this system allows)",
                errno.EACCES: " (check the permissions or choose another path)", errno.EROFS: " (choose a writable folder)",
                errno.ENOTDIR: " (a part of the path is a file, not a folder)"}.get(error.errno or 0, "")
        return f"{where}{error.strerror}{hint}"
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    name = f"gun {args.command}"
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        check_outputs(args)
        return int(args.func(args) or 0)
    except (ValueError, OSError, RuntimeError, ArithmeticError) as e:
        line = describe(e)
        if len(str(e).strip().splitlines()) > 1:
            line += f" ({_log_traceback(e, argv)})"
        print(f"{name}: error: {line}", file=sys.stderr)
        return 2
    except MemoryError as e:
        print(f"{name}: error: out of memory ({_log_traceback(e, argv)}): use smaller inputs or free memory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except Terminated:
        print(f"{name}: terminated; no partial output was kept", file=sys.stderr)
        return 143
    except Exception as e:  # noqa: BLE001 - a bug: one line here, the traceback in the log
        print(f"{name}: internal error: {type(e).__name__}: {describe(e)} ({_log_traceback(e, argv)}); please report it",
              file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
