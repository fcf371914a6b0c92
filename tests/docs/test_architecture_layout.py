"""docs/architecture.md's layout table names every module under reconciler/, and nothing else.

A module is named when its path under ``reconciler/`` appears in backticks in the table
(``cycle.py``, ``forge/github/client.py``), or its path below a folder that the row's first
cell names (the ``gitrepo/`` row naming ``port.py`` or ``pygit2_adapter/fetching.py``). A
package's ``__init__.py`` is named with its folder. Every backticked ``.py`` file or ``/``
folder in the table must exist, so a moved or deleted module fails here until the table
follows it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "reconciler"
DOC = ROOT / "docs" / "architecture.md"


def layout_rows() -> list[tuple[list[str], list[str]]]:
    """Per row of the table under "## Layout": the folders its first cell names, and every
    backticked file or folder in the row."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith(("| path", "|---")):
            continue
        first = line.strip("|").split("|")[0]
        folders = [t for t in _ticked(first) if t.endswith("/")]
        paths = [t for t in _ticked(line) if t.endswith((".py", "/"))]
        rows.append((folders, paths))
    assert rows, "docs/architecture.md has no layout table under ## Layout"
    return rows


def _ticked(text: str) -> list[str]:
    return re.findall(r"`([^`\s]+)`", text)


def _existing() -> set[str]:
    found = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    return found | {
        p.relative_to(PACKAGE).as_posix() + "/"
        for p in PACKAGE.rglob("*")
        if p.is_dir() and any(p.glob("*.py"))
    }


def _resolved(folders: list[str], path: str) -> list[str]:
    """The paths under reconciler/ a row's backticked ``path`` may stand for."""
    return [path, *(folder + path for folder in folders)]


def test_every_module_is_in_the_layout_table() -> None:
    named = {
        candidate
        for folders, paths in layout_rows()
        for path in paths
        for candidate in _resolved(folders, path)
    }
    missing = []
    for module in sorted(p for p in _existing() if p.endswith(".py")):
        folder = module.rsplit("/", 1)[0] + "/" if "/" in module else ""
        wanted = folder if module.endswith("__init__.py") else module
        if wanted and wanted not in named:
            missing.append(wanted)
    assert not missing, f"docs/architecture.md's layout table does not name {sorted(set(missing))}"


def test_the_layout_table_names_nothing_that_is_gone() -> None:
    existing = _existing()
    gone = [
        path
        for folders, paths in layout_rows()
        for path in paths
        if not any(candidate in existing for candidate in _resolved(folders, path))
    ]
    assert not gone, f"docs/architecture.md's layout table names what is not there: {gone}"
