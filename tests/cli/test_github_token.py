"""`--forge github` takes its token from GH_TOKEN or GITHUB_TOKEN when no file names one, in
the GitHub CLI's order (`gh help environment`: "GH_TOKEN, GITHUB_TOKEN (in order of
precedence)", and GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN for GitHub Enterprise Server);
the token itself is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import _parser
from reconciler.settings import from_args
from reconciler.wiring import github_token
from tests.cli.shell import reconciler
from tests.integration.test_cli_github import seeded
from tests.servers.github_sim import serve_github

GITHUB = ("--forge", "github", "--github-repo", "acme/config")
GHES = (*GITHUB, "--github-url", "https://ghe.example.com/api/v3")


def chosen(*options: str, **environ: str) -> str | None:
    """Where `reconciler plan OPTIONS` would read the GitHub token from."""
    args = _parser().parse_args(["plan", *options])
    token = github_token(from_args(args, environ))
    if token is None:
        return None
    return str(token.file) if token.file is not None else f"${token.env}"


@pytest.mark.parametrize(
    ("options", "environ", "expected"),
    [
        (GITHUB, {"GH_TOKEN": "a", "GITHUB_TOKEN": "b"}, "$GH_TOKEN"),
        (GITHUB, {"GITHUB_TOKEN": "b"}, "$GITHUB_TOKEN"),
        (GITHUB, {"GH_TOKEN": " \n", "GITHUB_TOKEN": "b"}, "$GITHUB_TOKEN"),  # blank is unset
        (GITHUB, {}, None),
        ((*GITHUB, "--github-token-file", "t"), {"GH_TOKEN": "a"}, "t"),  # the file first
        ((*GITHUB, "--github-url", "https://api.acme.ghe.com"), {"GH_TOKEN": "a"}, "$GH_TOKEN"),
        (GHES, {"GH_TOKEN": "a", "GITHUB_ENTERPRISE_TOKEN": "e"}, "$GITHUB_ENTERPRISE_TOKEN"),
        (
            GHES,
            {"GH_ENTERPRISE_TOKEN": "d", "GITHUB_ENTERPRISE_TOKEN": "e"},
            "$GH_ENTERPRISE_TOKEN",
        ),
        (GHES, {"GH_TOKEN": "a", "GITHUB_TOKEN": "b"}, None),  # never sent to another host
        (
            (*GITHUB, "--github-app-id", "1", "--github-app-key-file", "k"),
            {"GH_TOKEN": "a"},
            None,  # a GitHub App acts as itself
        ),
        (("--forge", "local"), {"GH_TOKEN": "a"}, None),
    ],
)
def test_precedence(options: tuple[str, ...], environ: dict[str, str], expected: str) -> None:
    assert chosen(*options, **environ) == expected


def test_the_file_variable_still_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_GITHUB_TOKEN_FILE", "from-env-file")
    assert chosen(*GITHUB, GH_TOKEN="a") == "from-env-file"


def test_a_token_variable_reaches_github_and_is_never_printed(tmp_path: Path) -> None:
    with serve_github(tmp_path / "config.git") as sim:
        token = sim.add_user("reconciler-bot", permission="admin")
        sim.commit("main", seeded(), "config repo\n")
        options = [
            *GITHUB,
            "--github-url",
            sim.url,  # 127.0.0.1: a GitHub Enterprise Server, as gh sees it
            "--repo",
            str(sim.git_path),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
        wrong = "ghp_" + "0" * 36  # a github.com token, not to be sent here
        planned = reconciler(
            "plan", *options, env={"GH_ENTERPRISE_TOKEN": token, "GH_TOKEN": wrong}
        )
        assert planned.returncode == 0, planned.stderr
        assert "open request: staging: promote order-gateway" in planned.stdout
        assert token not in planned.stdout + planned.stderr

        missing = reconciler("plan", *options, env={"GITHUB_TOKEN": token})
        assert missing.returncode != 0
        assert "--forge github needs --github-token-file (or GH_TOKEN, GITHUB_TOKEN;" in (
            missing.stderr
        )
        assert token not in missing.stdout + missing.stderr

        rejected = reconciler("plan", *options, env={"GH_ENTERPRISE_TOKEN": wrong})
        assert rejected.returncode != 0
        assert wrong not in rejected.stdout + rejected.stderr
