"""docs/reliability.md is the corpus's table (input -> behaviour), rendered from tests/reliability_corpus.py,
so that it cannot drift: regenerate it with GUN_WRITE_DOCS=1 python -m pytest tests/test_reliability_docs.py."""

from __future__ import annotations

import os
from pathlib import Path

from reliability_corpus import CASES, Env, entry_points, table

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


def test_reliability_table_matches_the_corpus(checkpoint: Path, tmp_path: Path) -> None:
    entries = {}
    for i, case in enumerate(CASES):
        env = Env(checkpoint, tmp_path / "camvid", tmp_path / str(i))
        env.inp.mkdir(parents=True)
        env.out.mkdir(parents=True)
        entries[case.name] = entry_points(case.build(env))
    text = table(entries)
    if os.environ.get("GUN_WRITE_DOCS"):
        DOC.write_text(text)
    assert DOC.read_text() == text, "docs/reliability.md is out of date: GUN_WRITE_DOCS=1 python -m pytest tests/test_reliability_docs.py"
    assert text.count("\n| ") >= 60 + 1
