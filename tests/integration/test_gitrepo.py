"""The pygit2 adapter against real repositories on disk: cache, failures, races, history."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import PermanentError, TransientError
from reconciler.gitrepo.port import ConfigRepo, Signature, UnknownCommit
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from tests.contract.gitcli import GitCli
from tests.contract.gitworld import GitWorld
from tests.contract.races import race_two_writers
from tests.ports import free_port

BOT = Signature("Reconciler", "bot@example.com", datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
BASE = {
    "promotions.toml": b"version = 1\n",
    "overlays/prod/app/kustomization.yaml": b"digest: sha256:aa\n",
    "overlays/staging/app/kustomization.yaml": b"digest: sha256:bb\n",
}
PROD = "overlays/prod/app/kustomization.yaml"
STAGING = "overlays/staging/app/kustomization.yaml"


def update(repo: ConfigRepo, changes: dict[str, bytes | None], branch: str = "main") -> str:
    outcome = repo.update_branch(
        branch, lambda _view: changes, message="edit", author=BOT, committer=BOT
    )
    assert outcome.commit is not None
    return outcome.commit


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    return free_port()


def test_first_open_clones_into_the_cache_and_later_opens_fetch(tmp_path: Path) -> None:
    world = GitWorld(tmp_path)
    world.seed(BASE)
    cache = tmp_path / "cache"

    repo = Pygit2ConfigRepo.open(world.url, cache)
    clones = list(cache.iterdir())
    assert len(clones) == 1
    assert clones[0].name.startswith("remote-")
    assert pygit2.Repository(str(clones[0])).is_bare
    assert not (clones[0] / "promotions.toml").exists()  # nothing is checked out
    marker = clones[0] / "kept-between-starts"
    marker.write_text("x")
    second = world.seed({**BASE, PROD: b"digest: sha256:cc\n"})
    assert repo.tip("main") != second  # nothing moves until a fetch

    restarted = Pygit2ConfigRepo.open(world.url, cache)

    assert restarted.tip("main") == second
    assert list(cache.iterdir()) == clones
    assert marker.exists()  # the same clone, fetched, not a new one
    assert restarted.read(second, PROD) == b"digest: sha256:cc\n"


def test_a_broken_cache_is_cloned_again(tmp_path: Path) -> None:
    world = GitWorld(tmp_path)
    tip = world.seed(BASE)
    cache = tmp_path / "cache"
    Pygit2ConfigRepo.open(world.url, cache)
    (clone,) = cache.iterdir()
    shutil.rmtree(clone / "objects")
    (clone / "HEAD").write_text("garbage")

    repo = Pygit2ConfigRepo.open(world.url, cache)

    assert repo.tip("main") == tip
    assert repo.read(tip, PROD) == BASE[PROD]


def test_commits_made_after_the_last_fetch_are_unknown_until_fetched(tmp_path: Path) -> None:
    world = GitWorld(tmp_path)
    world.seed(BASE)
    repo = world.client()
    later = world.seed({**BASE, PROD: b"later\n"})

    with pytest.raises(UnknownCommit, match="fetch first"):
        repo.read(later, PROD)
    repo.fetch()
    assert repo.read(later, PROD) == b"later\n"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("{tmp}/no-such-repo.git", "there is no repository at that path"),
        ("file://{tmp}/no-such-repo.git", "there is no repository at that path"),
        ("http://127.0.0.1:{port}/repo.git", "failed to connect to 127.0.0.1"),
        ("ssh://git@127.0.0.1:{port}/repo.git", "127.0.0.1"),
    ],
)
def test_an_unreachable_remote_is_a_transient_error(
    tmp_path: Path, address: str, expected: str
) -> None:
    url = address.format(tmp=tmp_path, port=closed_port())

    with pytest.raises(TransientError) as failed:
        Pygit2ConfigRepo.open(url, tmp_path / "cache", timeout=10)

    message = str(failed.value)
    assert message.startswith(f"cloning {url} failed: ")
    assert expected in message
    assert "retried next cycle" in message
    assert not list((tmp_path / "cache").iterdir())  # no half-made clone is left behind


def test_a_remote_that_goes_away_fails_fetches_until_it_is_back(tmp_path: Path) -> None:
    world = GitWorld(tmp_path)
    world.seed(BASE)
    repo = world.client()
    moved = tmp_path / "moved-away.git"
    world.path.rename(moved)

    with pytest.raises(TransientError, match="no repository at that path"):
        repo.fetch()
    with pytest.raises(TransientError):
        update(repo, {PROD: b"x\n"})

    moved.rename(world.path)
    later = world.seed({**BASE, PROD: b"back\n"})
    repo.fetch()
    assert repo.tip("main") == later


def test_file_urls_work_like_paths(tmp_path: Path) -> None:
    world = GitWorld(tmp_path, url=f"file://{tmp_path}/remote.git")
    world.seed(BASE)
    repo = world.client()

    commit = update(repo, {PROD: b"over file://\n"})

    assert world.remote_tip("main") == commit
    assert world.remote_files(commit)[PROD] == b"over file://\n"


def test_two_writers_racing_both_land(tmp_path: Path) -> None:
    race_two_writers(GitWorld(tmp_path))


def test_history_matches_git_log_across_merges(tmp_path: Path) -> None:
    git = GitCli(tmp_path / "home")
    world = GitWorld(tmp_path)
    work = tmp_path / "work"
    git("clone", "-q", str(world.path), str(work))
    git("checkout", "-q", "-b", "main", cwd=work)
    git.commit_file(work, PROD, "v0\n", "c0")
    git.commit_file(work, "docs/notes.md", "d0\n", "docs")
    git("checkout", "-q", "-b", "feature", cwd=work)
    git.commit_file(work, PROD, "v1\n", "feature: v1")
    git("checkout", "-q", "main", cwd=work)
    git.commit_file(work, "docs/notes.md", "d1\n", "docs again")
    git("merge", "-q", "--no-ff", "-m", "merge feature", "feature", cwd=work)
    git("checkout", "-q", "-b", "feature2", cwd=work)
    git.commit_file(work, PROD, "v2\n", "feature2: v2")
    git("checkout", "-q", "main", cwd=work)
    git.commit_file(work, PROD, "v3\n", "main: v3")
    git("merge", "-q", "--no-ff", "--no-commit", "-s", "ours", "feature2", cwd=work)
    git.commit_file(work, PROD, "v4\n", "merge feature2, resolved to v4")
    git("push", "-q", "origin", "main", cwd=work)
    tip = git("rev-parse", "HEAD", cwd=work)
    repo = world.client()

    for first_parent in (False, True):
        flags = ["--first-parent"] if first_parent else []
        expected = git("log", *flags, "--format=%H", "main", "--", PROD, cwd=work).split()
        found = repo.history(tip, PROD, limit=50, first_parent=first_parent)
        assert [c.id for c in found] == expected
    titles = [c.title for c in repo.history(tip, PROD, limit=50)]
    assert titles == [
        "merge feature2, resolved to v4",
        "main: v3",
        "feature2: v2",
        "feature: v1",
        "c0",
    ]
    titles = [c.title for c in repo.history(tip, PROD, limit=50, first_parent=True)]
    assert titles == ["merge feature2, resolved to v4", "main: v3", "merge feature", "c0"]


def test_an_executable_file_stays_executable(tmp_path: Path) -> None:
    world = GitWorld(tmp_path)
    seeded = world.seed(BASE)
    builder = world.repo.TreeBuilder(world.repo[seeded].peel(pygit2.Commit).tree)
    executable = pygit2.enums.FileMode.BLOB_EXECUTABLE
    builder.insert("deploy.sh", world.repo.create_blob(b"#!/bin/sh\n"), executable)
    sig = pygit2.Signature("Seeder", "seed@example.com", 1_700_000_000, 0)
    commit = world.repo.create_commit(
        "refs/heads/main", sig, sig, "exec", builder.write(), [pygit2.Oid(hex=seeded)]
    )
    repo = world.client()

    new = update(repo, {"deploy.sh": b"#!/bin/sh\necho changed\n"})

    changed = pygit2.Repository(str(world.path))[new].peel(pygit2.Commit)
    assert changed.tree["deploy.sh"].filemode == executable
    assert repo.changed_paths(str(commit), new, ["deploy.sh"])[0].status == "modified"


def test_a_checked_out_branch_of_a_non_bare_remote_is_not_written(tmp_path: Path) -> None:
    git = GitCli(tmp_path / "home")
    work = tmp_path / "work"
    git("init", "-q", "-b", "main", str(work))
    base = git.commit_file(work, PROD, "v0\n", "c0")
    repo = Pygit2ConfigRepo.open(str(work), tmp_path / "cache")

    with pytest.raises(PermanentError, match="checked out"):
        update(repo, {PROD: b"v1\n"})
    assert git("rev-parse", "main", cwd=work) == base

    promoted = repo.replace_branch(
        "promote/prod/app", lambda _v: {PROD: b"v1\n"}, base=base, expected_old=None,
        message="promote", author=BOT, committer=BOT,
    )  # fmt: skip
    assert git("rev-parse", "promote/prod/app", cwd=work) == promoted.commit
    assert git("show", f"{promoted.commit}:{PROD}", cwd=work) == "v1"
    git("fsck", "--strict", cwd=work)
