"""Every TOML example in README.md, docs/ and promotion-policies/ passes the real validator.

A fenced ``toml`` block is one of three things. A whole policy (it sets ``version``) must
load with no diagnostics, as `reconciler validate` loads it. A fragment (such as one
``[gates.NAME]`` table) must load once pasted into the small valid policy of
tests/unit/policy/test_reference.py (``pasted``). A ``.reconciler/teams.toml`` (its info
string names that file, or its only table is ``[teams]``) must pass the teams parser. A
block that shows a mistake on purpose is marked by the line ``<!-- invalid example -->``
right before its fence, and must then fail. Each TOML file under promotion-policies/ is
checked as a whole policy, with its folder as the config repo (overlay paths included).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.errors import PolicyError
from reconciler.forge.records import TEAMS_PATH, parse_teams
from reconciler.policy import POLICY_FILE, load_policy
from reconciler.worktree import DiskTree
from tests.conftest import ROOT
from tests.unit.policy.test_reference import BASE_TABLES

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
POLICY_FILES = sorted((ROOT / "promotion-policies").rglob("*.toml"))
INVALID = "<!-- invalid example -->"
_FENCE = re.compile(r"^```toml(?:\s+(?P<info>.*))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Example:
    """One TOML example: its file, the lines of that file before its text, and the text."""

    file: str
    before: int
    text: str
    info: str = ""
    invalid: bool = False
    repo: Path | None = None  # a config repo folder whose overlay paths are checked too

    @property
    def where(self) -> str:
        """FILE:LINE of the block's fence, or of a whole file's first line."""
        return f"{self.file}:{self.before or 1}"

    def problems(self) -> list[str]:
        """What the validator (or the teams parser) reports; empty when it accepts it."""
        try:
            raw = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError:
            raw = {"version": None}  # not TOML: loaded whole, so the error says where
        if self.info.endswith(TEAMS_PATH) or set(raw) == {"teams"}:
            try:
                parse_teams(self.text.encode(), self.where)
            except PolicyError as error:
                return [str(error)]
            return []
        if "version" in raw:
            tree = DiskTree(self.repo) if self.repo else None
            found = load_policy(self.text.encode(), self.file, tree).diagnostics
            return [f"{d.file}:{self.before + d.line}:{d.column}: {d.message}" for d in found]
        found = load_policy(pasted(self.text).encode(), self.file).diagnostics
        return [f"{self._at(d.line, d.column)}: {d.message}" for d in found]

    def _at(self, line: int, column: int) -> str:
        """FILE:LINE:COL of a position in ``pasted(self.text)``: in the fragment, or in the base."""
        if 1 < line <= 1 + self.text.count("\n"):
            return f"{self.file}:{self.before + line - 1}:{column}"
        return f"{self.where}: at {line}:{column} of the base policy it was pasted into"


def pasted(fragment: str) -> str:
    """The base policy with ``fragment`` pasted right after its first line, ``version = 1``,
    as a reader adds it to a policy: its bare keys are top-level keys, and each table it
    defines must be new or extend one of the base's (TOML refuses a table defined twice)."""
    return f"version = 1\n{fragment}\n{BASE_TABLES}"


def toml_blocks(file: str, markdown: str) -> list[Example]:
    """The fenced ``toml`` blocks of a Markdown document, each named FILE:LINE of its fence."""
    out = []
    lines = markdown.split("\n")
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = lines.index("```", index + 1)
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        out.append(
            Example(
                file,
                index + 1,
                "\n".join(lines[index + 1 : end]) + "\n",
                info=(fence["info"] or "").strip(),
                invalid=previous == INVALID,
            )
        )
        index = end + 1
    return out


EXAMPLES = [
    *(
        block
        for doc in DOCS
        for block in toml_blocks(str(doc.relative_to(ROOT)), doc.read_text(encoding="utf-8"))
    ),
    *(
        Example(
            str(path.relative_to(ROOT)),
            0,
            path.read_text(encoding="utf-8"),
            repo=path.parent if path.name == POLICY_FILE else None,
        )
        for path in POLICY_FILES
    ),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
def test_example(example: Example) -> None:
    found = example.problems()
    if example.invalid:
        assert found, f"{example.where} is marked {INVALID} but the validator accepts it"
    else:
        assert not found, "\n".join(found)


def test_blocks_are_found_with_their_line_and_mark() -> None:
    markdown = "\n".join(
        [
            "# A page",  # 1
            "```toml",  # 2
            'version = "one"',
            "```",
            INVALID,  # 5
            "",
            "```toml",  # 7
            "[gates.nightly]",
            'kind = "soak"',
            "```",
            "```toml file=config/.reconciler/teams.toml",  # 11
            '[teams]\n"@org/team" = ["alice"]',
            "```",
        ]
    )
    first, second, third = toml_blocks("page.md", markdown)
    assert (first.where, first.invalid) == ("page.md:2", False)
    assert first.problems() == [
        'page.md:3:11: version: string "one" is not supported; this release reads version 1'
    ]
    assert (second.where, second.invalid) == ("page.md:7", True)
    assert second.problems() == [
        'page.md:8:1: [gates.nightly] is missing the required key "duration"'
    ]
    assert (third.where, third.info) == ("page.md:11", "file=config/.reconciler/teams.toml")
    assert third.problems() == [
        'page.md:11: the members of "@org/team" must be a list of "@user" handles'
    ]


def test_every_document_with_examples_is_read() -> None:
    files = {example.file for example in EXAMPLES}
    assert {"docs/policy.md", "docs/getting-started.md"} <= files
    assert len([f for f in files if f.startswith("promotion-policies/")]) >= 3
