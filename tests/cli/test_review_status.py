"""`review set-status` on the local forge: a commit status set as CI would on GitHub, kept
on the requests branch with who set it, read back by the forge; bad input is one clear line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.forge.local import LocalForge
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from tests.cli.test_repo_verbs import Cli
from tests.e2e.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "world")
    yield made
    made.stop()


def test_a_status_is_set_on_a_commit_and_read_back(world: World, tmp_path: Path) -> None:
    cli = Cli(world)
    said = cli.ok(
        "review", "set-status", "--sha", "main", "--name", "e2e", "--state", "failure",
        "--url", "https://ci.example.com/e2e/7", "--as", "@ci-bot",
    )  # fmt: skip
    repo = Pygit2ConfigRepo.open(str(world.remote), tmp_path / "reader")
    main = repo.tip("main")
    assert main is not None
    assert said.strip() == f"e2e failure on {main[:12]} as @ci-bot (https://ci.example.com/e2e/7)"
    shown = json.loads(
        cli.ok(
            "review",
            "set-status",
            "--sha",
            main,
            "--name",
            "e2e",
            "--state",
            "success",
            "-o",
            "json",
        )
    )
    assert shown == {"sha": main, "name": "e2e", "state": "success", "url": "", "as": "@ci"}

    repo.fetch()
    read = LocalForge(repo, "main").commit_checks(main)
    assert [(c.name, c.state, c.conclusion) for c in read.checks] == [
        ("e2e", "failed", "failure"),
        ("e2e", "passed", "success"),
    ]
    log = repo.commit_info(repo.tip("reconciler/requests") or "").message
    assert log.startswith(f"status e2e success on {main[:12]} by @ci")


def test_a_status_on_a_source_repository_commit(world: World, tmp_path: Path) -> None:
    source, sha = "https://github.com/acme/shop", "c" * 40
    said = Cli(world).ok(
        "review", "set-status", "--sha", sha, "--source", source, "--name", "build",
        "--state", "success",
    )  # fmt: skip
    assert said.strip() == f"build success on {sha[:12]} of {source} as @ci"
    repo = Pygit2ConfigRepo.open(str(world.remote), tmp_path / "reader")
    forge = LocalForge(repo, "main")
    assert [c.conclusion for c in forge.commit_checks(sha, repository=source).checks] == ["success"]
    assert forge.commit_checks(sha).checks == ()  # not the config repo's commit
    assert repo.read(
        repo.tip("reconciler/requests") or "", f".reconciler/checks/github.com/acme/shop/{sha}.json"
    )


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--sha", "main", "--name", "e2e", "--state", "green"), 2, "invalid choice: 'green'"),
        (("--sha", "main", "--state", "success"), 2, "set-status needs --sha, --name and --state"),
        (("--sha", "nope", "--name", "e2e", "--state", "success"), 1, "neither a full commit"),
        (
            ("--sha", "f" * 40, "--name", "e2e", "--state", "success"),
            1,
            "is not in the config repo",
        ),
        (("--sha", "main", "--name", "e2e", "--state", "success", "--url", "ftp://x"), 1, "http"),
        (
            (
                "--sha",
                "main",
                "--source",
                "https://github.com/a/b",
                "--name",
                "e",
                "--state",
                "success",
            ),
            1,
            "a source repository's commit is given by its full id",
        ),
        (
            ("--sha", "c" * 40, "--source", "github.com/a", "--name", "e", "--state", "success"),
            1,
            "is not a source repository URL like https://github.com/acme/shop",
        ),
    ],
)
def test_bad_input_is_one_clear_line(
    world: World, args: tuple[str, ...], code: int, words: str
) -> None:
    done = Cli(world)("review", "set-status", *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr
