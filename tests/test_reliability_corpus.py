"""Issue 10's corpus: every generated bad input through every entry point that takes it (see
tests/reliability_corpus.py for the cases and the contract)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from datasets import make_camvid
from reliability_corpus import CASES, Env, Run, check, snapshot

import gun.io.base


@pytest.fixture(scope="module")
def camvid_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_camvid(tmp_path_factory.mktemp("camvid"), splits=("val",), images=2, size=(64, 96))


def execute(run: Run, env: Env, capfd: pytest.CaptureFixture) -> None:
    from gun.cli import main
    from gun.nn.checkpoint import CheckpointError, load_model

    capfd.readouterr()
    before = {"in": snapshot(env.inp), "out": snapshot(env.out)}
    if run.argv is None:
        rc = 0
        try:
            load_model(run.load)
        except CheckpointError as e:
            print(f"CheckpointError: {e}", file=__import__("sys").stderr)
            rc = 2
    else:
        try:
            rc = main(run.argv)
        except SystemExit as e:  # argparse
            rc = int(e.code or 0)
    stdout, stderr = capfd.readouterr()
    if os.environ.get("GUN_CORPUS_LOG"):  # what each run printed, to review the messages
        with open(os.environ["GUN_CORPUS_LOG"], "a") as f:
            f.write(f"{(run.argv or ['load_model'])[0]} rc={rc}: {stderr.strip()}\n")
    check(run, rc, stdout, stderr, before, {"in": snapshot(env.inp), "out": snapshot(env.out)})


def test_corpus_has_at_least_60_kinds() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.category for c in CASES} == {"video", "image", "folder", "dataset", "checkpoint", "output", "option"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, checkpoint: Path, camvid_root: Path, tmp_path: Path, capfd: pytest.CaptureFixture,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUN_LOG_DIR", str(tmp_path / "logs"))
    if "size limit" in case.name:
        monkeypatch.setattr(gun.io.base, "MAX_FRAME_PIXELS", 32 * 48)  # the 64 x 96 input is over it
    env = Env(checkpoint, camvid_root, tmp_path / "case")
    env.inp.mkdir(parents=True)
    env.out.mkdir(parents=True)
    runs = case.build(env)
    for run in runs:
        execute(run, env, capfd)
    assert not (tmp_path / "case" / "payload-ran").exists(), "a pickle payload ran"
    shutil.rmtree(tmp_path / "case", ignore_errors=True)
