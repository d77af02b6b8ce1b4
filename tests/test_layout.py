"""The layout's rules (issue 12), checked on the source tree by parsing imports with ast, so that a
comment or a string that names a module does not count and a lazy import inside a function does:

- no module under gun/ or app/ is longer than 400 lines;
- gun/ never imports Qt (PySide6, pyqtgraph) or the app;
- only gun/commands, gun/cli.py and main.py import the command-line layer (gun.commands, gun.cli);
- the app never imports torch: the worker reaches the model through gun.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str | None = None) -> set[str]:
    """Every module `path` (the module named `module`, by default from its place under ROOT) imports,
    anywhere in the file, as absolute dotted names; `from a import b` gives both a and a.b (b may be
    a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (module or module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def imports_any(path: Path, roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imported_modules(path) if any(m == r or m.startswith(r + ".") for r in roots))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_checker_sees_lazy_and_relative_imports_but_not_strings(tmp_path: Path) -> None:
    """The rules below are only as good as the import reader: it must catch what grep would miss
    and ignore what grep would wrongly catch."""
    probe = tmp_path / "probe.py"
    probe.write_text('"""mentions gun.cli and PySide6 in a docstring"""\n'
                     "import os\n\n\ndef f():\n    from PySide6 import QtCore\n    from .commands import common\n    return QtCore, common\n"
                     "s = 'import torch'\n", encoding="utf-8")
    found = imported_modules(probe, "gun.probe")
    assert "PySide6" in found and "PySide6.QtCore" in found
    assert "gun.commands" in found and "gun.commands.common" in found
    assert "torch" not in found and "gun.cli" not in found


@pytest.mark.parametrize("path", sources("gun", "app"), ids=relative)
def test_no_module_is_longer_than_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{relative(path)} has {lines} lines (at most {MAX_LINES}): split it by concept"


def test_gun_never_imports_qt_or_the_app() -> None:
    bad = {relative(p): m for p in sources("gun") if (m := imports_any(p, ("PySide6", "pyqtgraph", "app")))}
    assert not bad, f"gun/ must run without Qt and without the app: {bad}"


def test_only_the_command_layer_imports_the_command_layer() -> None:
    allowed = ROOT / "gun" / "commands"
    candidates = sources("gun", "app", "scripts") + [ROOT / "main.py"]
    bad = {}
    for p in candidates:
        if p == ROOT / "gun" / "cli.py" or p == ROOT / "main.py" or allowed in p.parents:
            continue
        if m := imports_any(p, ("gun.commands", "gun.cli")):
            bad[relative(p)] = m
    assert not bad, f"only gun/commands, gun/cli.py and main.py may import the command line: {bad}"


def test_the_app_never_imports_torch() -> None:
    bad = {relative(p): m for p in sources("app") if (m := imports_any(p, ("torch",)))}
    bad.update({"main.py": m} if (m := imports_any(ROOT / "main.py", ("torch",))) else {})
    assert not bad, f"the app reaches the model through gun (its worker), never torch directly: {bad}"
