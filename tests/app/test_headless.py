"""A scripted run (`main.py ... --frames N [--screenshot X]`) whose source or weights failed exits
1 with a one-line message (issue 10, item 8); a good one exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write_video


def run_main(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "main.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("main.py: error:")]


@pytest.mark.parametrize("what", ["missing source", "corrupt source", "missing weights", "bad weights"])
def test_a_failed_scripted_run_exits_non_zero_with_one_line(tmp_path: Path, checkpoint: Path, what: str) -> None:
    clip = write_video(tmp_path / "clip.avi", frames=10)
    source, weights = str(clip), str(checkpoint)
    if what == "missing source":
        source = str(tmp_path / "nope.mp4")
    elif what == "corrupt source":
        (tmp_path / "corrupt.mp4").write_bytes(b"\x00garbage" * 64)
        source = str(tmp_path / "corrupt.mp4")
    elif what == "missing weights":
        weights = str(tmp_path / "nope.safetensors")
    else:
        (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
        weights = str(tmp_path / "bad.safetensors")
    shot = tmp_path / "shot.png"
    result = run_main(source, "--weights", weights, "--frames", "3", "--screenshot", str(shot))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    name = Path(source if "source" in what else weights).name
    assert name in lines[0]


def test_a_good_scripted_run_exits_zero(tmp_path: Path, checkpoint: Path) -> None:
    clip = write_video(tmp_path / "clip.avi", frames=10)
    result = run_main(str(clip), "--weights", str(checkpoint), "--frames", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drew 3 frames" in result.stdout and not error_lines(result)


def test_app_against_the_model_alone_interleaved(tmp_path: Path, checkpoint: Path) -> None:
    """scripts/app_vs_model.py: rounds of the real app, each followed by the model alone; prints
    every round and the median ratio (README, Speed)."""
    clip = write_video(tmp_path / "clip.avi", frames=12)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "scripts/app_vs_model.py", str(clip), "--weights", str(checkpoint),
                             "--rounds", "2", "--frames", "6", "--runs", "2"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    rounds = [line for line in result.stdout.splitlines() if line.startswith("round ")]
    assert len(rounds) == 3 and all(line.endswith("x") for line in rounds)  # a warm-up round, then two
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith("median of 2 rounds:") and "model alone" in summary
    ratio = float(summary.split("ratio ")[1].split("x")[0])
    assert 0 < ratio < 10
