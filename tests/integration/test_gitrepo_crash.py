"""A push to a remote on this machine, SIGKILLed at every object write and in the ref-lock
window: the remote stays whole (git fsck, git clone) and the next push completes it.

A child process (tests/e2e/killpoints.py) runs two pushes through the adapter: an update of
main touching folders at several depths, then a promotion branch replaced on the new main.
Its commits are deterministic, so the run after a kill builds the very objects the killed
run had begun to write; that is where a writer that trusts "the remote has this object" to
mean "it has all below it" moves a branch onto a tree whose folders never arrived.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.errors import TransientError
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, reflock
from tests import figures
from tests.contract.gitcli import GitCli
from tests.e2e.killpoints import LOCK_STEPS

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAN = [
    {
        "op": "update",
        "branch": "main",
        "message": "dev: new digest",
        "files": {
            "overlays/dev/app/kustomization.yaml": "digest: sha256:new\n",
            "overlays/dev/other/values.yaml": "image: new\n",
            "docs/runbooks/deep/promote.md": "steps\n",
            "notes.md": "changed\n",
        },
    },
    {
        "op": "replace",
        "branch": "promote/prod/app",
        "base": "main",
        "message": "prod: new digest",
        "files": {"overlays/prod/app/kustomization.yaml": "digest: sha256:new\n"},
    },
]
BOT = Signature("Reconciler", "bot@example.com", datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
OLDER_THAN_THE_BOUND = 3600.0  # seconds: how far back a leftover lock's clock is set


def child(spec: str, remote: Path, cache: Path, plan: Path) -> subprocess.CompletedProcess[str]:
    """The plan's pushes in a new process that dies at ``spec``."""
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.killpoints", spec, str(remote), "push", str(cache),
         str(plan)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, GitCli]:
    """A bare remote with some history (written by git itself), and the plan's file."""
    root = tmp_path_factory.mktemp("seed")
    git = GitCli(root / "home")
    work = root / "work"
    git("init", "-q", "-b", "main", str(work))
    for path, text in {
        "promotions.toml": "version = 1\n",
        "overlays/dev/app/kustomization.yaml": "digest: sha256:old\n",
        "overlays/prod/app/kustomization.yaml": "digest: sha256:old\n",
        "overlays/dev/other/values.yaml": "image: old\n",
        "notes.md": "first\n",
    }.items():
        git.commit_file(work, path, text, f"add {path}")
    remote = root / "remote.git"
    git("clone", "-q", "--bare", str(work), str(remote))
    plan = root / "plan.json"
    plan.write_text(json.dumps(PLAN))
    return remote, plan, git


@pytest.fixture(scope="module")
def reference(
    seeded: tuple[Path, Path, GitCli], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, str], int]:
    """What the plan makes when nothing dies: every branch's commit, and the object writes."""
    source, plan, git = seeded
    root = tmp_path_factory.mktemp("reference")
    remote = root / "remote.git"
    shutil.copytree(source, remote)
    done = child("none", remote, root / "cache", plan)
    assert done.returncode == 0, done.stderr
    writes = json.loads(done.stdout)["writes"]
    return branches(git, remote), writes


def branches(git: GitCli, remote: Path) -> dict[str, str]:
    listed = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=remote)
    return dict(line.split() for line in listed.splitlines())


def assert_whole(git: GitCli, remote: Path, scratch: Path) -> None:
    """git's own verdict on the remote: fsck finds nothing missing, and it clones."""
    check = subprocess.run(
        ["git", "fsck", "--full", "--strict", "--no-dangling"],
        cwd=remote, env=git.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout + check.stderr == ""
    shutil.rmtree(scratch, ignore_errors=True)
    git("clone", "-q", "--mirror", str(remote), str(scratch))


def age_locks(remote: Path) -> list[Path]:
    """Leftover ref locks, their clocks set back past the bound (instead of waiting)."""
    locks = sorted((remote / "refs").rglob("*.lock"))
    past = time.time() - OLDER_THAN_THE_BOUND
    for lock in locks:
        os.utime(lock, (past, past))
    return locks


def test_a_push_killed_at_any_object_write_leaves_a_whole_remote(
    seeded: tuple[Path, Path, GitCli],
    reference: tuple[dict[str, str], int],
    tmp_path: Path,
) -> None:
    source, plan, git = seeded
    expected, writes = reference
    assert set(expected) == {"refs/heads/main", "refs/heads/promote/prod/app"}
    # two commits, their blobs and every folder on their paths (root, overlays, overlays/dev,
    # ...): kills land between a tree and the subtrees it names
    assert writes >= 14
    before = branches(git, source)
    for k in range(1, writes + 1):
        remote = tmp_path / f"remote-{k}.git"
        shutil.copytree(source, remote)
        killed = child(f"object:{k}", remote, tmp_path / f"cache-{k}", plan)
        assert killed.returncode == -9, f"write {k}: {killed.stdout}{killed.stderr}"
        assert_whole(git, remote, tmp_path / "clone")
        for ref, commit in branches(git, remote).items():  # each where it was, or done
            assert commit in (before.get(ref), expected[ref]), f"write {k}: {ref}"

        again = child("none", remote, tmp_path / f"cache-{k}", plan)

        assert again.returncode == 0, f"after write {k}: {again.stderr}"
        assert branches(git, remote) == expected, f"after write {k}"
        assert_whole(git, remote, tmp_path / "clone")
        shutil.rmtree(remote)
    figures.line(f"local push killed at every object write: kills={writes} fsck_clean={writes} "
                 f"completed_by_the_next={writes}")  # fmt: skip


def test_a_push_killed_in_the_ref_lock_window_is_completed_by_the_next(
    seeded: tuple[Path, Path, GitCli],
    reference: tuple[dict[str, str], int],
    tmp_path: Path,
) -> None:
    source, plan, git = seeded
    expected, _ = reference
    cleared = 0
    for update, step in itertools.product((1, 2), LOCK_STEPS):
        where = f"{step} in update {update}"
        remote = tmp_path / f"remote-{update}-{step}.git"
        shutil.copytree(source, remote)
        cache = tmp_path / f"cache-{update}-{step}"

        killed = child(f"lock:{step}:{update}", remote, cache, plan)

        assert killed.returncode == -9, where + killed.stdout + killed.stderr
        assert_whole(git, remote, tmp_path / "clone")
        left = age_locks(remote)
        assert len(left) == (1 if step in ("taken", "set") else 0), (where, left)
        again = child("none", remote, cache, plan)
        assert again.returncode == 0, where + again.stderr
        assert branches(git, remote) == expected, where
        assert_whole(git, remote, tmp_path / "clone")
        assert not list((remote / "refs").rglob("*.lock")), where
        if left:
            assert f"cleared {left[0]}" in again.stderr, where
        # and people's pushes to the branch that was locked work again
        branch = str(PLAN[update - 1]["branch"])
        work = tmp_path / f"work-{update}-{step}"
        git("clone", "-q", "-b", branch, str(remote), str(work))
        git.commit_file(work, "notes.md", "a person's change\n", "person")
        git("push", "-q", "origin", branch, cwd=work)
        cleared += len(left)
    kills = 2 * len(LOCK_STEPS)
    figures.line(f"local push killed in the ref-lock window: kills={kills} fsck_clean={kills} "
                 f"leftover_locks_cleared={cleared} completed_by_the_next={kills}")  # fmt: skip


# -- ref locks: one a dead daemon left is cleared, anyone else's is reported ------------------


def killed_in_lock(seeded: tuple[Path, Path, GitCli], tmp_path: Path) -> tuple[Path, Path]:
    """A remote whose main.lock a daemon left when it was SIGKILLed holding it; its cache."""
    source, plan, _ = seeded
    remote, cache = tmp_path / "remote.git", tmp_path / "cache"
    shutil.copytree(source, remote)
    killed = child("lock:set:1", remote, cache, plan)
    assert killed.returncode == -9, killed.stderr
    assert (remote / "refs/heads/main.lock").exists()
    return remote, cache


def push_main(remote: Path, cache: Path, text: str) -> str | None:
    repo = Pygit2ConfigRepo.open(str(remote), cache, depth=0)
    edit = {"notes.md": text.encode()}
    return repo.update_branch(
        "main", lambda _v: edit, message="notes", author=BOT, committer=BOT
    ).commit


def test_a_lock_a_killed_daemon_left_is_cleared_once_past_the_bound(
    seeded: tuple[Path, Path, GitCli], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, git = seeded
    remote, cache = killed_in_lock(seeded, tmp_path)
    lock = remote / "refs/heads/main.lock"
    with pytest.raises(TransientError) as young:
        push_main(remote, cache, "too soon\n")
    assert re.fullmatch(
        re.escape(
            f"pushing to {remote} failed: refs/heads/main is locked: {lock} was left by "
            f"reconciler process {owner_pid(remote)} on host {socket.gethostname()}, which is "
            "gone; it is cleared once it is 10s old (it is "
        )
        + r"\ds\); it will be retried next cycle",
        str(young.value),
    ), young.value
    assert lock.exists()
    age_locks(remote)

    with caplog.at_level(logging.WARNING, logger="reconciler.gitrepo"):
        commit = push_main(remote, cache, "later\n")

    assert branches(git, remote)["refs/heads/main"] == commit
    assert not lock.exists()
    (line,) = [r.getMessage() for r in caplog.records if "cleared" in r.getMessage()]
    assert re.fullmatch(
        re.escape(f"cleared {lock}: left ")
        + r"36\d\ds ago by reconciler process \d+ on host "
        + re.escape(f"{socket.gethostname()}, which is gone"),
        line,
    ), line
    work = tmp_path / "work"  # and a person's push to that branch works again
    git("clone", "-q", str(remote), str(work))
    git.commit_file(work, "notes.md", "a person's change\n", "person")
    git("push", "-q", "origin", "main", cwd=work)


@pytest.mark.parametrize("old", [False, True])
def test_a_lock_no_daemon_left_is_reported_and_kept(
    seeded: tuple[Path, Path, GitCli], tmp_path: Path, old: bool
) -> None:
    source, _, git = seeded
    remote = tmp_path / "remote.git"
    shutil.copytree(source, remote)
    lock = remote / "refs/heads/main.lock"
    lock.write_text("")  # as a person's git leaves it when killed mid-push
    if old:
        age_locks(remote)
    before = branches(git, remote)

    with pytest.raises(TransientError) as held:
        push_main(remote, tmp_path / "cache", "mine\n")

    message = str(held.value)
    assert message.startswith(f"pushing to {remote} failed: refs/heads/main is locked: ")
    age = r"36\d\d" if old else r"\d"
    assert re.search(re.escape(f"{lock} exists (for ") + age + r"s\) and no reconciler", message)
    assert message.endswith("if none is, delete that file; it will be retried next cycle")
    assert lock.exists()
    assert branches(git, remote) == before


def test_a_lock_a_live_daemon_holds_is_left_to_it(
    seeded: tuple[Path, Path, GitCli], tmp_path: Path
) -> None:
    source, _, git = seeded
    remote = tmp_path / "remote.git"
    shutil.copytree(source, remote)
    lock = remote / "refs/heads/main.lock"
    before = branches(git, remote)
    with reflock.claim(remote, "refs/heads/main") as live:  # another daemon, mid-push
        live.taking()
        lock.write_text("")
        live.locked(lock)
        age_locks(remote)  # even past the bound: its owner is alive

        with pytest.raises(TransientError) as busy:
            push_main(remote, tmp_path / "cache", "mine\n")

        assert str(busy.value) == (
            f"pushing to {remote} failed: reconciler process {os.getpid()} on host "
            f"{socket.gethostname()} is updating refs/heads/main right now; it will be "
            "retried next cycle"
        )
        assert lock.exists()
    assert branches(git, remote) == before


def owner_pid(remote: Path) -> int:
    owner = reflock.read_owner(reflock.record_path(remote, "refs/heads/main"))
    assert owner is not None
    return owner.pid
