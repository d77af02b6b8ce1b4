"""Writing files so that a reader never sees half of one, and refusing outputs that would do damage.

A file is written under a hidden partial name beside its target (`.NAME.PID-RANDOM.partial.EXT`),
flushed to disk (fsync), then renamed over the target and the folder fsynced. A process killed
mid-write (SIGKILL, power loss) leaves only its partial, which the next write of the same target
removes once the process that owned it is gone. `check_output` refuses, before anything is
written, an output that is an input, a folder, or under a path that cannot hold files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot or must not be written (one-line message)."""


def partial_name(path: str | Path) -> Path:
    """The hidden name a write of `path` goes to first; it keeps the extension last (OpenCV picks the
    container by it) and carries the writer's process id, so that stale ones can be told apart."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{path.suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def stale_partials(path: str | Path) -> list[Path]:
    """Partial files of `path` left by processes that no longer run."""
    path = Path(path)
    found = []
    with contextlib.suppress(OSError):
        for p in path.parent.glob(f".{path.stem}.*.partial{path.suffix}"):
            owner = p.name[len(path.stem) + 2:].split("-", 1)[0]
            if owner.isdigit() and int(owner) != os.getpid() and not _pid_alive(int(owner)):
                found.append(p)
    return found


def clean_stale_partials(path: str | Path) -> list[Path]:
    """Remove the partial files a killed earlier write of `path` left; returns what was removed."""
    removed = []
    for p in stale_partials(path):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def fsync_folder(folder: str | Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_partial(path: str | Path, write: Callable[[str], object]) -> Path:
    """`write(tmp)` writes the content under a partial name of `path`, which is then fsynced and
    returned (not yet in place: `commit` it). On any error the partial file is removed."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder: give a file name", str(path))
    clean_stale_partials(path)
    tmp = partial_name(path)
    try:
        with open(tmp, "x"):  # claim the name, with the ordinary permissions (mkstemp's are 0600)
            pass
        mode = stat.S_IMODE(os.stat(tmp).st_mode)
        write(str(tmp))
        if stat.S_IMODE(os.stat(tmp).st_mode) != mode:  # a writer that replaced the file (safetensors does) left 0600
            os.chmod(tmp, mode)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is None and e.strerror:  # name the file a full disk or a quota stopped
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit(tmp: str | Path, path: str | Path) -> None:
    """Rename a finished partial file over its target, durably."""
    os.replace(tmp, path)
    fsync_folder(Path(path).parent)


def atomic_write(path: str | Path, write: Callable[[str], object]) -> None:
    """`write(tmp_path)` writes the content to a temporary file in the target's folder, which is then
    fsynced and renamed over `path`; on any error the temporary file is removed and the target is
    left as it was."""
    tmp = write_partial(path, write)
    try:
        commit(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def path_problem(path: str | os.PathLike, what: str = "file") -> str | None:
    """Why `path` cannot be read as a regular `what` ("file" or "folder"), in one line; None if it can.

    Distinguishes the cases that plain `exists()` lumps together as "no such file": a dangling
    link, a symlink loop, a FIFO or device (reading one would block), a file where a folder is
    expected and the reverse, and no permission."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"{path} is a broken symbolic link (its target {os.readlink(path)} does not exist)"
        return f"no such {what}: {path}"
    except OSError as e:
        if e.errno == 40:  # ELOOP
            return f"{path} is a symbolic link loop: point it at a real {what}"
        if e.errno == 20:  # ENOTDIR
            return f"no such {what}: {path} (a part of the path is a file, not a folder)"
        return f"cannot read {path}: {e.strerror}"
    if what == "folder":
        return None if stat.S_ISDIR(st.st_mode) else f"{path} is a file, not a folder"
    if stat.S_ISDIR(st.st_mode):
        return f"{path} is a folder, not a {what}: give a {what} inside it"
    if stat.S_ISFIFO(st.st_mode):
        return f"{path} is a named pipe (FIFO), not a {what}: save the stream to a file first"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is a device or socket, not a regular {what}"
    if not os.access(path, os.R_OK):
        return f"cannot read {path}: permission denied"
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): compare the paths, links followed as far as they go
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str | Path, inputs: Iterable[str | Path] = (), what: str = "--out") -> Path:
    """`path` if it can be written (nothing is created), or an OutputError saying why it cannot be:
    it is (or resolves to) one of `inputs`, it is a folder, its folder is a file, or nothing can be
    written there (read-only, /proc, no permission). Nothing is left behind by the check."""
    path = Path(path).expanduser()
    for source in inputs:
        if source and _same_file(path, Path(source).expanduser()):
            raise OutputError(f"{what} {path} is the input {source}: choose another name, the input is never overwritten")
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder: give a file name inside it")
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{what} {path} is a broken symbolic link: remove it or choose another name")
    existing = next(folder for folder in (path.parent, *path.parent.parents) if os.path.lexists(folder))
    if not existing.is_dir():
        raise OutputError(f"{what} {path}: {existing} is a file, not a folder")
    try:  # probe the nearest folder that exists (the missing ones are created when the file is written)
        probe = partial_name(existing / path.name)
        with open(probe, "x"):
            pass
        probe.unlink()
    except OSError as e:
        raise OutputError(f"{what} {path}: cannot write there ({e.strerror or e}): choose a writable folder") from None
    return path


def make_parents(path: str | Path) -> list[Path]:
    """Create the missing folders above `path`; returns them, outermost first, for `remove_empty`."""
    missing = [folder for folder in (Path(path).parent, *Path(path).parent.parents) if not os.path.lexists(folder)][::-1]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove folders made by `make_parents` for a write that failed, innermost first, if still empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()
