"""The config-repo integrations: the GitHub Actions workflow, the pre-commit hook, their README."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler import __version__
from tests.conftest import ROOT, need

WORKFLOW = ROOT / "integrations/github-actions/validate-promotions.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
README = ROOT / "integrations/README.md"

# Every command integrations/README.md shows, exactly as shown; each is run below.
VALIDATE = "reconciler validate --format github ."
CHECK_WORKFLOW = (
    "check-jsonschema --builtin-schema vendor.github-workflows "
    ".github/workflows/validate-promotions.yml"
)
CHECK_PRE_COMMIT_CONFIG = "pre-commit validate-config .pre-commit-config.yaml"


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def fenced(language: str) -> list[str]:
    """The bodies of the README's ```language blocks."""
    return re.findall(rf"^```{language}\n(.*?)^```$", README.read_text(), re.M | re.S)


def tool(name: str) -> str | None:
    """A command from this virtualenv, else from PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` as a user types it, its program found as tool() finds it."""
    program, *args = shlex.split(command)
    exe = tool(program)
    assert exe is not None, f"{program} is not installed"
    env = {**os.environ, "PRE_COMMIT_HOME": str(cwd.parent / "pre-commit-home")}
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, cwd=cwd, env=env, check=False, timeout=120
    )


@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    """A config repo set up as the README says: example policy, the workflow, pre-commit config."""
    repo = tmp_path / "config-repo"
    shutil.copytree(ROOT / "promotion-policies/examples/order-gateway", repo)
    (repo / ".github/workflows").mkdir(parents=True)
    shutil.copy(WORKFLOW, repo / ".github/workflows/validate-promotions.yml")
    (repo / ".pre-commit-config.yaml").write_text(fenced("yaml")[0])
    return repo


def break_policy(repo: Path) -> None:
    policy = repo / "promotions.toml"
    policy.write_text(policy.read_text().replace('follows = "staging"', 'follows = "stagin"'))


def test_readme_shows_only_commands_these_tests_run() -> None:
    shown = [line for block in fenced("sh") for line in block.splitlines() if line.strip()]
    assert sorted(shown) == sorted([VALIDATE, CHECK_WORKFLOW, CHECK_PRE_COMMIT_CONFIG])


# --- the GitHub Actions workflow ------------------------------------------------------------


def test_workflow_matches_github_workflow_schema(config_repo: Path) -> None:
    result = shell(CHECK_WORKFLOW, config_repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(config_repo: Path) -> None:
    copied = config_repo / ".github/workflows/validate-promotions.yml"
    copied.write_text(copied.read_text().replace("runs-on:", "runs_on:"))
    result = shell(CHECK_WORKFLOW, config_repo)
    assert result.returncode == 1
    assert "'runs-on' is a required property" in result.stdout


def test_workflow_triggers_on_policy_and_overlay_changes_with_read_only_token() -> None:
    workflow = load(WORKFLOW)
    assert workflow["on"] == {
        "pull_request": {
            "paths": [
                "promotions.toml",
                "overlays/**",
                "**/kustomization.yaml",
                "**/values*.yaml",
                ".github/CODEOWNERS",
            ]
        }
    }
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())


def test_actions_are_pinned_to_full_commit_shas_with_a_version_comment() -> None:
    uses = [line.strip() for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert len(uses) == 2
    for line in uses:
        assert re.fullmatch(r"uses: actions/[a-z-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def test_workflow_installs_this_version_and_documents_the_git_fallback() -> None:
    steps = load(WORKFLOW)["jobs"]["validate"]["steps"]
    assert f'pip install "reconciler=={__version__}"' in [s.get("run") for s in steps]
    fallback = [line for line in WORKFLOW.read_text().splitlines() if "git+https://" in line]
    assert len(fallback) == 1
    assert "PLACEHOLDER" in fallback[0]
    assert fallback[0].strip().startswith("#")
    assert fallback[0].rstrip().endswith(f'@v{__version__}"')


def test_workflow_ends_with_the_readme_command() -> None:
    assert load(WORKFLOW)["jobs"]["validate"]["steps"][-1]["run"] == VALIDATE


def test_readme_command_annotates_a_broken_policy_as_the_readme_shows(config_repo: Path) -> None:
    break_policy(config_repo)
    result = shell(VALIDATE, config_repo)
    assert result.returncode == 1
    assert result.stdout == fenced("text")[0]


def test_readme_command_passes_a_valid_config_repo(config_repo: Path) -> None:
    result = shell(VALIDATE, config_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::" not in result.stdout


# --- the pre-commit hook --------------------------------------------------------------------


def hook() -> dict[str, Any]:
    hooks = load(HOOKS)
    assert isinstance(hooks, list)
    assert len(hooks) == 1
    found: dict[str, Any] = hooks[0]
    return found


def test_hook_definition() -> None:
    defined = hook()
    assert defined["id"] == "reconciler-validate"
    assert defined["name"]
    assert (defined["entry"], defined["language"]) == ("reconciler validate", "python")
    assert defined["pass_filenames"] is False


@pytest.mark.parametrize(
    ("path", "runs"),
    [
        ("promotions.toml", True),
        ("overlays/prod/kustomization.yaml", True),
        ("overlays/dev/kustomization.yml", True),
        ("kustomization.yaml", True),
        ("values/prod/payments-worker.yaml", True),
        ("charts/api/values-prod.yml", True),
        ("values.yaml", True),
        (".github/CODEOWNERS", True),
        ("README.md", False),
        ("docs/promotions.toml", False),
        ("promotions.toml.bak", False),
        ("overlays/prod/deployment.yaml", False),
        ("overlays/prod/kustomization.json", False),
        ("CODEOWNERS", False),
        (".github/workflows/validate-promotions.yml", False),
        ("src/values.py", False),
    ],
)
def test_hook_files_pattern(path: str, runs: bool) -> None:
    # pre-commit filters staged paths (relative to the repo root) with re.search.
    assert (re.search(hook()["files"], path) is not None) is runs


def test_hook_entry_checks_the_config_repo_from_its_root(config_repo: Path) -> None:
    # pass_filenames: false, so pre-commit runs the entry as is, in the repo root.
    assert shell(hook()["entry"], config_repo).returncode == 0
    break_policy(config_repo)
    result = shell(hook()["entry"], config_repo)
    assert result.returncode == 1
    assert result.stdout.startswith("promotions.toml:31:11: environments.prod.follows: ")


def test_pre_commit_accepts_the_hook_and_the_readme_config(config_repo: Path) -> None:
    need(tool("pre-commit") is not None, "pre-commit")
    manifest = shell(f"pre-commit validate-manifest {HOOKS}", config_repo)
    assert manifest.returncode == 0, manifest.stdout + manifest.stderr
    result = shell(CHECK_PRE_COMMIT_CONFIG, config_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    config = config_repo / ".pre-commit-config.yaml"
    config.write_text(config.read_text().replace("rev:", "revision:"))
    assert shell(CHECK_PRE_COMMIT_CONFIG, config_repo).returncode == 1
