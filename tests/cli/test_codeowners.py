"""`reconciler codeowners`: PATH<TAB>owners per line, as GitHub would read the file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_validate import run
from tests.conftest import ROOT

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
    assert json.loads(result.stdout) == [
        {
            "path": "overlays/prod/kustomization.yaml",
            "owners": ["@prod-owners"],
            "file": str(owners),
            "line": 2,
        },
        {
            "path": "overlays/prod/app/kustomization.yaml",
            "owners": ["@all"],
            "file": str(owners),
            "line": 1,
        },
    ]


def test_invalid_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "CODEOWNERS").write_text("* @all\n!overlays/ @nobody\n")
    result = run("codeowners", "--repo", str(tmp_path), "overlays/x")
    assert result.returncode == 0
    assert result.stdout == "overlays/x\t@all\n"
    assert "CODEOWNERS:2: " in result.stderr
    assert "negation with ! is not supported" in result.stderr


def test_no_codeowners_file(tmp_path: Path) -> None:
    result = run("codeowners", "--repo", str(tmp_path), "a")
    assert (result.returncode, result.stdout) == (0, "a\t\n")
    assert "no CODEOWNERS file" in result.stderr


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run("codeowners", "--file", str(tmp_path / "missing"), "a")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
