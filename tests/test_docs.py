"""Every `gun` command in docs/reproducing.md parses with today's command line (the doc cannot drift)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gun.cli import build_parser

DOC = Path(__file__).resolve().parent.parent / "docs" / "reproducing.md"
ENV = {"CITYSCAPES": "/data/cityscapes", "DRN": "/data/drn_d_22-4bd2f8ea.pth"}


def doc_commands(text: str) -> list[list[str]]:
    """argv (after `gun`) of every gun / torchrun command in the doc's bash blocks, $VARS expanded."""
    env = dict(ENV)
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), m.group(0)), line.split(" #")[0]).strip()
            line = line.removeprefix("export ")
            if m := re.match(r"^(\w+)=(.*)$", line):
                env[m.group(1)] = " ".join(shlex.split(m.group(2)))
                continue
            words = shlex.split(line)
            if words[:1] == ["gun"]:
                commands.append(words[1:])
            elif words[:1] == ["torchrun"]:
                commands.append(words[words.index("gun.cli") + 1:])
    return commands


@pytest.mark.skipif(not DOC.is_file(), reason="docs/reproducing.md has been folded elsewhere")
def test_every_documented_command_parses() -> None:
    commands = doc_commands(DOC.read_text())
    assert len(commands) >= 15
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)  # exits (fails the test) on an unknown flag or bad value
        assert "$" not in " ".join(argv), argv
        if args.command == "train":
            assert args.dataset == "cityscapes" and args.epochs == 250 and args.encoder_weights == ENV["DRN"]


ROOT = DOC.parent.parent


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_slug_matches_githubs() -> None:
    assert slug("The app's pipeline: what made it 0.8x the model alone") == "the-apps-pipeline-what-made-it-08x-the-model-alone"
    assert slug("Results on CamVid (measured here)") == "results-on-camvid-measured-here"


@pytest.mark.parametrize("page", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))])
def test_every_relative_link_and_anchor_resolves(page: str) -> None:
    """The README and the docs link each other and their sections; moving text between them must not
    leave a link to a file or a heading that is gone."""
    source = ROOT / page
    text = re.sub(r"```.*?```", "", source.read_text(), flags=re.DOTALL)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        file, _, anchor = target.partition("#")
        path = (source.parent / file).resolve() if file else source
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(target)
    assert not broken, f"{page}: {broken}"
