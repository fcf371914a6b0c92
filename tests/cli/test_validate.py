"""`reconciler validate` as users and CI call it: exit codes, output, repo checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.conftest import EXAMPLES, ROOT


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user's shell would run it."""
    exe = Path(sys.executable).with_name("reconciler")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_examples_are_valid(example: Path) -> None:
    result = run("validate", str(example))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid:" in result.stdout
    assert "environments" in result.stdout


def test_summary_line_from_inside_the_repo() -> None:
    result = run("validate", cwd=ROOT / "promotion-policies/examples/order-gateway")
    assert result.returncode == 0
    assert result.stdout == (
        "promotions.toml: valid: 1 app, 3 environments, 2 edges (dev -> staging -> prod)\n"
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A writable copy of the order-gateway example config repo."""
    target = tmp_path / "repo"
    shutil.copytree(ROOT / "promotion-policies/examples/order-gateway", target)
    return target


def test_invalid_policy_exits_1_with_positions(repo: Path) -> None:
    policy = repo / "promotions.toml"
    policy.write_text(policy.read_text().replace('follows = "staging"', 'follows = "stagin"'))
    result = run("validate", cwd=repo)
    assert result.returncode == 1
    assert result.stdout == (
        'promotions.toml:31:11: environments.prod.follows: no environment "stagin"; '
        'did you mean "staging"?\n'
    )
    assert result.stderr == "promotions.toml: 1 error\n"


def test_json_output(repo: Path) -> None:
    policy = repo / "promotions.toml"
    policy.write_text(policy.read_text().replace('mode = "pull-request"', 'mode = "pr"'))
    result = run("validate", "--json", str(repo))
    assert result.returncode == 1
    assert json.loads(result.stdout) == [
        {
            "file": str(policy),
            "line": 25,
            "column": 8,
            "message": 'environments.staging.mode: expected one of "pull-request", "commit", '
            'got string "pr"',
            "rule": "invalid-value",
        }
    ]


def test_json_output_when_valid(repo: Path) -> None:
    result = run("validate", "--json", str(repo))
    assert (result.returncode, json.loads(result.stdout)) == (0, [])


def test_missing_overlay_folder(repo: Path) -> None:
    shutil.rmtree(repo / "overlays/staging")
    result = run("validate", cwd=repo)
    assert result.returncode == 1
    assert result.stdout == (
        'promotions.toml:24:11: environments.staging.overlay: "overlays/staging" does not '
        "exist in the repo\n"
    )


def test_overlay_without_kustomization(repo: Path) -> None:
    (repo / "overlays/prod/kustomization.yaml").unlink()
    result = run("validate", cwd=repo)
    assert result.returncode == 1
    assert 'environments.prod.overlay: "overlays/prod" has no kustomization.yaml' in result.stdout


def test_overlay_symlink_escaping_the_repo(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(repo / "overlays/prod", outside)
    shutil.rmtree(repo / "overlays/prod")
    os.symlink(outside, repo / "overlays/prod")
    result = run("validate", cwd=repo)
    assert result.returncode == 1
    assert result.stdout == (
        'promotions.toml:32:11: environments.prod.overlay: "overlays/prod" leads outside the '
        "repo through a symlink\n"
    )


def test_overlay_symlink_inside_the_repo_is_fine(repo: Path) -> None:
    (repo / "overlays/prod").rename(repo / "overlays/production")
    os.symlink("production", repo / "overlays/prod")
    assert run("validate", cwd=repo).returncode == 0


def test_app_placeholder_is_checked_per_app(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "promotion-policies/examples/payments-helm", repo)
    (repo / "values/prod/payments-worker.yaml").unlink()
    result = run("validate", cwd=repo)
    assert result.returncode == 1
    assert result.stdout == (
        'promotions.toml:38:11: environments.prod.overlay: "values/prod/payments-worker.yaml" '
        "does not exist in the repo\n"
    )


def test_a_lone_file_is_not_checked_against_a_tree(repo: Path, tmp_path: Path) -> None:
    lone = tmp_path / "promotions.toml"
    shutil.copy(repo / "promotions.toml", lone)
    assert run("validate", str(lone)).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "/nonexistent/promotions.toml"], "cannot read /nonexistent/promotions.toml"),
        (["validate", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_and_unreadable_files_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_folder_without_policy_exits_2(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path))
    assert result.returncode == 2
    assert f"cannot read {tmp_path}/promotions.toml: No such file or directory" in result.stderr


def test_in_process_main_matches_the_script(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(repo)]) == 0
    assert "valid:" in capsys.readouterr().out


# -- what CODEOWNERS means for the environments (issue 17, items 4 and 5) ----------------------

ORDER_GATEWAY = ROOT / "promotion-policies/examples/order-gateway"


def _config_repo(tmp_path: Path, owners: str, teams: str | None = None) -> Path:
    repo = tmp_path / "config"
    shutil.copytree(ORDER_GATEWAY, repo)
    (repo / ".github/CODEOWNERS").write_text(owners)
    if teams is not None:
        (repo / ".reconciler").mkdir()
        (repo / ".reconciler/teams.toml").write_text(teams)
    return repo


def test_a_catch_all_owner_over_an_auto_merge_overlay_is_a_warning_with_the_fix(
    tmp_path: Path,
) -> None:
    repo = _config_repo(tmp_path, "* @acme/sre\n/overlays/prod/ @acme/release\n")

    result = run("validate", str(repo))

    assert result.returncode == 0, result.stdout  # a warning: GitHub may not require it
    assert (
        f"{repo}/.github/CODEOWNERS:1:1: warning: overlays/staging/kustomization.yaml is owned by "
        "@acme/sre (.github/CODEOWNERS:1): when the base branch requires review from code "
        "owners, the forge refuses the daemon's merge into staging (auto_merge) until an owner "
        "approves; for staging to merge by itself, add a line with no owners, "
        "/overlays/staging/, below line 1 of .github/CODEOWNERS\n"
    ) in result.stdout
    fixed = _config_repo(
        tmp_path / "fixed", "* @acme/sre\n/overlays/staging/\n/overlays/prod/ @acme/release\n"
    )
    assert "warning" not in run("validate", str(fixed)).stdout


def test_an_owning_team_the_local_teams_file_lacks_is_a_warning(tmp_path: Path) -> None:
    owners = "/overlays/prod/ @acme/Release @acme/other\n"
    repo = _config_repo(tmp_path, owners, teams='[teams]\n"@acme/release" = ["@rita"]\n')

    result = run("validate", "--format", "json", str(repo))

    assert result.returncode == 0
    warnings = [d for d in json.loads(result.stdout) if d.get("severity") == "warning"]
    assert [(w["line"], w["rule"]) for w in warnings] == [(1, "team-unlisted")]
    assert warnings[0]["message"].startswith(
        "@acme/other owns overlays/prod/kustomization.yaml but .reconciler/teams.toml does not "
        "list its members"
    )


def test_an_apps_own_overlay_naming_only_other_images_is_a_warning(tmp_path: Path) -> None:
    # The daemon would read no pin there and block the app as no-pin; an overlay with no
    # images yet is fine (the first pin adds the entry), and so is one named by the app's
    # repository, as `kustomize edit set image REPO@DIGEST` writes it.
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    (repo / "promotions.toml").write_text(
        'version = 1\n\n[apps.billing]\nimage = "ghcr.io/acme/billing"\n\n'
        '[apps.search]\nimage = "ghcr.io/acme/search"\n\n'
        '[environments.qa]\noverlay = "deploy/{app}/qa"\n\n'
        '[environments.live]\nfollows = "qa"\noverlay = "deploy/{app}/live"\n'
    )
    digest = "sha256:" + "1" * 64
    entries = {
        "billing/qa": f"- name: ghcr.io/acme/billing\n  digest: {digest}\n",
        "billing/live": "",
        "search/qa": f"- name: search-api\n  digest: {digest}\n",
        "search/live": f"- name: ghcr.io/acme/search-worker\n  digest: {digest}\n",
    }
    for folder, images in entries.items():
        (repo / "deploy" / folder).mkdir(parents=True)
        text = "resources:\n- ../base\n" + (f"images:\n{images}" if images else "")
        (repo / "deploy" / folder / "kustomization.yaml").write_text(text)

    result = run("validate", cwd=repo)

    assert result.returncode == 0, result.stdout + result.stderr
    warned = [line for line in result.stdout.splitlines() if ": warning: " in line]
    assert warned == [
        f"deploy/{folder}/kustomization.yaml:4:3: warning: deploy/{folder}/kustomization.yaml "
        f'names {name!r} in images, not search\'s image ("search" or "ghcr.io/acme/search"): '
        f"the daemon finds no pin for search in {env} and blocks it as no-pin; set "
        "kustomize_image in [apps.search] to the name this file uses"
        for folder, name, env in (
            ("search/qa", "search-api", "qa"),
            ("search/live", "ghcr.io/acme/search-worker", "live"),
        )
    ]
