"""`reconciler codeowners`: PATH<TAB>owners per line, as GitHub would read the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.cli.test_validate import run
from tests.conftest import ROOT
from tests.unit.test_codeowners import TABLE

EXAMPLE = ROOT / "promotion-policies/examples/order-gateway"


def test_owners_from_the_repo_folder() -> None:
    result = run(
        "codeowners",
        "overlays/prod/kustomization.yaml",
        "overlays/dev/kustomization.yaml",
        cwd=EXAMPLE,
    )
    assert result.returncode == 0
    assert result.stdout == (
        "overlays/prod/kustomization.yaml\t@swiggy-platform/release-managers\n"
        "overlays/dev/kustomization.yaml\t\n"
    )


def test_json_names_the_deciding_line(tmp_path: Path) -> None:
    owners = tmp_path / "OWNERS"
    owners.write_text("* @all\n/overlays/prod/* @prod-owners # direct children only\n")
    result = run(
        "codeowners",
        "--json",
        "--file",
        str(owners),
        "overlays/prod/kustomization.yaml",
        "overlays/prod/app/kustomization.yaml",
    )
    assert json.loads(result.stdout) == {
        "file": str(owners),
        "paths": [
            {"path": "overlays/prod/kustomization.yaml", "owners": ["@prod-owners"], "line": 2},
            {"path": "overlays/prod/app/kustomization.yaml", "owners": ["@all"], "line": 1},
        ],
        "errors": [],
    }


def test_invalid_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "CODEOWNERS").write_text("* @all\n!overlays/ @nobody\n")
    result = run("codeowners", "--repo", str(tmp_path), "overlays/x")
    assert result.returncode == 0
    assert result.stdout == "overlays/x\t@all\n"
    assert result.stderr == (
        'CODEOWNERS:2:1: Invalid pattern: "!overlays/": negation with ! is not supported in '
        "CODEOWNERS (line skipped)\n  !overlays/ @nobody\n  ^\n"
    )


# GitHub's errors endpoint (REST "List CODEOWNERS errors", schema codeowners-errors): line,
# column (1-based), kind, source, suggestion, and a message laid out as "<kind> on line <n>:"
# with the line and a caret under the column. Its documented examples: an invalid owner
# ("* user" at column 3) and the suggestion for "/".
GITHUB_ERRORS = [
    (
        "* user\n",
        {
            "line": 1,
            "column": 3,
            "kind": "Invalid owner",
            "source": "* user",
            "suggestion": None,
            "message": "Invalid owner on line 1:\n\n  * user\n    ^",
        },
    ),
    (
        "* @ok\n/ @root\n",
        {
            "line": 2,
            "column": 1,
            "kind": "Invalid pattern",
            "source": "/ @root",
            "suggestion": "The pattern `/` will never match anything, did you mean `*` instead?",
            "message": "Invalid pattern on line 2: The pattern `/` will never match anything, "
            "did you mean `*` instead?\n\n  / @root\n  ^",
        },
    ),
    (
        "  docs/[ab] @team\n",
        {
            "line": 1,
            "column": 3,
            "kind": "Invalid pattern",
            "source": "  docs/[ab] @team",
            "suggestion": None,
            "message": "Invalid pattern on line 1:\n\n    docs/[ab] @team\n    ^",
        },
    ),
]


@pytest.mark.parametrize(("text", "error"), GITHUB_ERRORS, ids=["owner", "slash", "range"])
def test_json_reports_skipped_lines_as_githubs_errors_endpoint_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, error: dict[str, object]
) -> None:
    (tmp_path / "CODEOWNERS").write_text(text)

    assert main(["codeowners", "--json", "--repo", str(tmp_path), "x"]) == 0

    assert json.loads(capsys.readouterr().out)["errors"] == [{**error, "path": "CODEOWNERS"}]


PATTERNS = sorted({pattern for _, pattern, _, _ in TABLE})


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_cli_resolves_the_pattern_table_as_github(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str
) -> None:
    """Every row of the unit table (each naming its source) through `codeowners --json`."""
    rows = [(path, owned) for _, p, path, owned in TABLE if p == pattern]
    (tmp_path / "CODEOWNERS").write_text(f"* @everyone\n{pattern} @owner\n")

    assert main(["codeowners", "--json", "--repo", str(tmp_path), *(p for p, _ in rows)]) == 0

    found = json.loads(capsys.readouterr().out)
    assert found["errors"] == []
    assert [(r["path"], r["owners"] == ["@owner"]) for r in found["paths"]] == rows


def test_no_codeowners_file(tmp_path: Path) -> None:
    result = run("codeowners", "--repo", str(tmp_path), "a")
    assert (result.returncode, result.stdout) == (0, "a\t\n")
    assert "no CODEOWNERS file" in result.stderr


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run("codeowners", "--file", str(tmp_path / "missing"), "a")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
