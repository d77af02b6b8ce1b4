"""Issue 10 in real processes: a full disk, an export killed with SIGKILL and one stopped with SIGTERM
(`python -m gun.cli annotate`, run side by side to keep the test short), and an unexpected exception
(logged to a file, summarised in one line)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_video

from gun.io.files import clean_stale_partials, partial_name, stale_partials

ROOT = Path(__file__).resolve().parent.parent


def _full_disk(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _annotate(source: Path, out: Path, weights: Path, frames: int, logs: Path, **popen: object) -> subprocess.Popen:
    """float32 on every CPU: the full-disk case needs the same (over 3000-byte) output everywhere."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "GUN_LOG_DIR": str(logs), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "gun.cli", "annotate", str(source), "--out", str(out), "--weights", str(weights),
                             "--frames", str(frames), "--backend", "torch", "--device", "cpu", "--dtype", "float32",
                             "--no-progress"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".partial" in p.name) if folder.is_dir() else []


@pytest.fixture(scope="module")
def runs(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Three exports at once: onto a full disk, killed (SIGKILL) mid-way, stopped (SIGTERM) mid-way."""
    tmp = tmp_path_factory.mktemp("process")
    short = write_video(tmp / "short.avi", frames=6, size=(32, 48))
    long = write_video(tmp / "long.avi", frames=400, size=(32, 48))
    logs = tmp / "logs"
    procs = {
        "full": _annotate(short, tmp / "full" / "o.mp4", checkpoint, 6, logs, preexec_fn=_full_disk(3000)),
        "kill": _annotate(long, tmp / "kill" / "o.mp4", checkpoint, 400, logs),
        "term": _annotate(long, tmp / "term" / "o.mp4", checkpoint, 400, logs),
    }
    seen: dict[str, list[str]] = {}
    for name, sig in (("kill", signal.SIGKILL), ("term", signal.SIGTERM)):
        deadline = time.monotonic() + 240
        while not _partials(tmp / name) and procs[name].poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        seen[name] = [p.name for p in _partials(tmp / name)]
        procs[name].send_signal(sig)
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        results[name] = (proc.returncode, out, err)
    return {"tmp": tmp, "results": results, "seen": seen, "short": short, "logs": logs}


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_full_disk_is_an_error_and_leaves_nothing(runs: dict) -> None:
    rc, out, err = runs["results"]["full"]
    assert rc == 2, (out, err)
    line = _one_line(err)
    assert line.startswith("gun annotate: error: ") and "disk full" in line, line
    assert "wrote" not in out
    assert not (runs["tmp"] / "full").exists()  # not even the folder made for it


def test_killed_export_leaves_no_target_and_the_next_run_removes_its_partial(runs: dict, checkpoint: Path,
                                                                          capfd: pytest.CaptureFixture) -> None:
    rc, _, _ = runs["results"]["kill"]
    assert rc == -signal.SIGKILL
    folder = runs["tmp"] / "kill"
    assert runs["seen"]["kill"], "the export never started writing"
    assert not (folder / "o.mp4").exists() and not (folder / "o.csv").exists()
    stale = _partials(folder)
    assert stale, "SIGKILL leaves the partial file (nothing can run on SIGKILL)"
    assert stale_partials(folder / "o.mp4") == [p for p in stale if p.suffix == ".mp4"]
    from gun.cli import main

    assert main(["annotate", str(runs["short"]), "--out", str(folder / "o.mp4"), "--weights", str(checkpoint), "--frames", "2",
                 "--backend", "torch", "--device", "cpu", "--no-progress"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["o.csv", "o.mp4"]


def test_terminated_export_exits_143_and_removes_its_partial(runs: dict) -> None:
    rc, _, err = runs["results"]["term"]
    assert runs["seen"]["term"], "the export never started writing"
    assert rc == 143, err
    assert _one_line(err) == "gun annotate: terminated; no partial output was kept"
    assert not (runs["tmp"] / "term").exists()  # the partial, and the folder made for it, are gone


def test_a_live_writers_partial_is_not_stale(tmp_path: Path) -> None:
    target = tmp_path / "o.mp4"
    mine = partial_name(target)
    mine.write_bytes(b"being written")
    dead = target.with_name(".o.999999999-00000000.partial.mp4")
    dead.write_bytes(b"left by a killed process")
    other = target.with_name(".other.999999999-00000000.partial.mp4")
    other.write_bytes(b"another target's")
    assert clean_stale_partials(target) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()


def test_unexpected_exception_is_one_line_and_logged(tmp_path: Path, capfd: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import gun.commands.models
    from gun.cli import main

    def broken(args: object) -> int:
        return {}["missing"]  # a bug: KeyError

    monkeypatch.setenv("GUN_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(gun.commands.models, "run", broken)
    assert main(["models"]) == 1
    line = _one_line(capfd.readouterr().err)
    assert line.startswith("gun models: internal error: KeyError: 'missing' (details in ")
    log = (tmp_path / "logs" / "errors.log").read_text()
    assert "Traceback" in log and 'return {}["missing"]' in log


def test_os_errors_are_one_line_with_what_to_do(tmp_path: Path, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import gun.commands.models
    from gun.cli import main

    def full(args: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x.json"))

    monkeypatch.setattr(gun.commands.models, "run", full)
    assert main(["models"]) == 2
    line = _one_line(capfd.readouterr().err)
    assert line == f"gun models: error: {tmp_path / 'x.json'}: No space left on device (free some space and run again)"


def test_sidecar_on_a_full_disk_is_one_line_and_leaves_neither_file(checkpoint: Path, tmp_path: Path, capfd: pytest.CaptureFixture,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10, item 2: with the CSV sidecar on, ENOSPC ended in a traceback."""
    import errno

    import gun.io.sinks
    from gun.cli import main

    def disk_full(path: str, rows: list) -> None:
        Path(path).write_text("frame,inference_ms\n0,")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(gun.io.sinks, "_write_csv", disk_full)
    video = write_video(tmp_path / "v.avi", frames=3, size=(32, 48))
    out = tmp_path / "out"
    out.mkdir()
    rc = main(["annotate", str(video), "--out", str(out / "o.mp4"), "--weights", str(checkpoint), "--backend", "torch",
               "--device", "cpu", "--no-progress"])
    assert rc == 2
    assert _one_line(capfd.readouterr().err) == f"gun annotate: error: {out / 'o.csv'}: No space left on device (free some space and run again)"
    assert list(out.iterdir()) == []
