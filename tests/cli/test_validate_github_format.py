"""`reconciler validate --format github`: annotations on failing lines, escaped for the runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.policy.diagnostics import Diagnostic
from reconciler.verbs.policy import github_annotation, workflow_command
from tests.conftest import ROOT


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a CI step would run it."""
    exe = Path(sys.executable).with_name("reconciler")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=60,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A writable copy of the order-gateway example config repo."""
    target = tmp_path / "repo"
    shutil.copytree(ROOT / "promotion-policies/examples/order-gateway", target)
    return target


def edit(repo: Path, old: str, new: str) -> None:
    policy = repo / "promotions.toml"
    text = policy.read_text()
    assert old in text
    policy.write_text(text.replace(old, new))


def test_one_annotation_per_problem_on_the_failing_line(repo: Path) -> None:
    edit(repo, 'follows = "staging"', 'follows = "stagin"')
    edit(repo, 'mode = "pull-request"', 'mode = "pr"')
    result = run("validate", "--format", "github", ".", cwd=repo)
    assert result.returncode == 1
    assert result.stdout == (
        "::error file=promotions.toml,line=25,col=8,title=reconciler validate::"
        'environments.staging.mode: expected one of "pull-request", "commit", got string "pr"\n'
        "::error file=promotions.toml,line=31,col=11,title=reconciler validate::"
        'environments.prod.follows: no environment "stagin"; did you mean "staging"?\n'
    )
    assert result.stderr == "promotions.toml: 2 errors\n"


def test_overlay_problems_are_annotated_too(repo: Path) -> None:
    shutil.rmtree(repo / "overlays/staging")
    result = run("validate", "--format", "github", cwd=repo)
    assert result.returncode == 1
    assert result.stdout == (
        "::error file=promotions.toml,line=24,col=11,title=reconciler validate::"
        'environments.staging.overlay: "overlays/staging" does not exist in the repo\n'
    )


def test_a_crafted_key_cannot_inject_a_workflow_command(repo: Path) -> None:
    # A pull request controls promotions.toml; a raw newline in a message would let it
    # start its own command (::add-mask::, ::warning::) on the runner.
    policy = repo / "promotions.toml"
    policy.write_text('"50%\\r\\n::warning::x," = 1\n' + policy.read_text())
    result = run("validate", "--format", "github", cwd=repo)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "::error file=promotions.toml,line=1,col=1,title=reconciler validate::"
        'unknown key "50%25%0D%0A::warning::x," at the top level; defined: "apps", '
        '"environments", "gates", "live", "notify", "registry", "settings", "version"'
    ]


def test_commas_and_colons_in_the_path_are_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "a,b:c"
    shutil.copytree(ROOT / "promotion-policies/examples/order-gateway", folder)
    edit(folder, 'follows = "staging"', 'follows = "stagin"')
    result = run("validate", "--format", "github", "a,b:c", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith(
        "::error file=a%2Cb%3Ac/promotions.toml,line=31,col=11,title=reconciler validate::"
        "environments.prod.follows: "
    )


def test_valid_policy_exits_0_without_annotations(repo: Path) -> None:
    result = run("validate", "--format", "github", cwd=repo)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "promotions.toml: valid: 1 app, 3 environments, 2 edges (dev -> staging -> prod)\n"
    )


def test_unreadable_policy_exits_2_with_a_fileless_annotation(tmp_path: Path) -> None:
    result = run("validate", "--format", "github", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == (
        "::error title=reconciler validate::cannot read promotions.toml: No such file or "
        "directory\n"
    )
    assert "reconciler validate: cannot read promotions.toml" in result.stderr


def test_unknown_format_is_a_usage_error(repo: Path) -> None:
    result = run("validate", "--format", "sarif", cwd=repo)
    assert result.returncode == 2
    assert "invalid choice: 'sarif'" in result.stderr


@pytest.mark.parametrize("flag", [["--json"], ["--format", "json"]])
def test_json_flag_and_format_json_agree(repo: Path, flag: list[str]) -> None:
    edit(repo, 'mode = "pull-request"', 'mode = "pr"')
    result = run("validate", *flag, cwd=repo)
    assert result.returncode == 1
    assert [(d["line"], d["column"], d["rule"]) for d in json.loads(result.stdout)] == [
        (25, 8, "invalid-value")
    ]


def test_github_actions_environment_does_not_switch_the_format(repo: Path) -> None:
    edit(repo, 'follows = "staging"', 'follows = "stagin"')
    env = {**os.environ, "GITHUB_ACTIONS": "true"}
    result = run("validate", cwd=repo, env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("promotions.toml:31:11: environments.prod.follows")


@pytest.mark.parametrize(
    ("diagnostic", "expected"),
    [
        (
            Diagnostic("promotions.toml", 3, 7, "plain message", "r"),
            "::error file=promotions.toml,line=3,col=7,title=reconciler validate::plain message",
        ),
        (
            Diagnostic("promotions.toml", 1, 1, "100% sure\r\nnext: a, b", "r"),
            "::error file=promotions.toml,line=1,col=1,title=reconciler validate::"
            "100%25 sure%0D%0Anext: a, b",
        ),
        (
            Diagnostic("dir,x:y/promotions.toml", 2, 4, "m", "r"),
            "::error file=dir%2Cx%3Ay/promotions.toml,line=2,col=4,title=reconciler validate::m",
        ),
        (
            Diagnostic("50%\n.toml", 2, 4, "m", "r"),
            "::error file=50%25%0A.toml,line=2,col=4,title=reconciler validate::m",
        ),
        (
            Diagnostic("promotions.toml", 9, 2, "already %0A escaped", "r"),
            "::error file=promotions.toml,line=9,col=2,title=reconciler validate::"
            "already %250A escaped",
        ),
    ],
)
def test_github_annotation_escaping(diagnostic: Diagnostic, expected: str) -> None:
    assert github_annotation(diagnostic) == expected


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({}, "::error::a: b"),
        ({"title": "t, with: both"}, "::error title=t%2C with%3A both::a: b"),
    ],
)
def test_workflow_command_properties(properties: dict[str, str], expected: str) -> None:
    assert workflow_command("error", "a: b", properties) == expected
