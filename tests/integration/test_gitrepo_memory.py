"""Reads a daemon repeats every cycle keep no memory behind.

pygit2 1.21 keeps a reference to the name strings given to some lookups and never drops it
(``References.get``, ``Tree[...]``, a reference looked up by a name it yielded), so each
call leaked its string. The adapter passes interned names and iterates references itself;
these tests repeat the reads a thousand-app cycle makes and measure what stays allocated.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode

from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from reconciler.gitrepo.pygit2_adapter.clone import REOPEN_AFTER

WHO = Signature("seed", "seed@example.com", datetime(2026, 11, 1, tzinfo=UTC))
CALLS = 5000
# With the leak, each call above kept a string of 60 to 90 bytes: 300 KB or more here.
ALLOWED = 64 * 1024


@pytest.fixture
def repo(tmp_path: Path) -> Pygit2ConfigRepo:
    files = {f"overlays/prod/app-{n}/kustomization.yaml": b"images: []\n" for n in range(20)}
    create_repository(tmp_path / "remote.git", files, branch="main", message="s", author=WHO)
    return Pygit2ConfigRepo.open(str(tmp_path / "remote.git"), tmp_path / "cache")


def retained(action: Callable[[int], object]) -> int:
    """Bytes still allocated after ``CALLS`` calls of ``action`` (after a warm-up)."""
    for n in range(100):
        action(n)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(CALLS):
            action(n)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_reading_the_tip_keeps_nothing(repo: Pygit2ConfigRepo) -> None:
    assert retained(lambda n: repo.tip("ma" + "in"[: 2 + n % 1])) < ALLOWED


def test_listing_branches_keeps_nothing(repo: Pygit2ConfigRepo) -> None:
    assert retained(lambda _: repo.branches()) < ALLOWED


def test_reading_files_of_a_commit_keeps_nothing(repo: Pygit2ConfigRepo) -> None:
    tip = repo.tip("main")
    assert tip is not None

    def read(n: int) -> object:
        return repo.tree(tip).blob_id(f"overlays/prod/app-{n % 20}/kustomization.yaml")

    assert retained(read) < ALLOWED


def _commit_upstream(remote: Path, n: int) -> str:
    """A new commit on the remote's main, changing one file."""
    bare = pygit2.Repository(str(remote))
    parent = bare.revparse_single("refs/heads/main")
    builder = bare.TreeBuilder(parent.peel(pygit2.Tree))
    builder.insert("note.txt", bare.create_blob(f"{n}\n".encode()), FileMode.BLOB)
    who = pygit2.Signature("ci", "ci@example.com")
    oid = bare.create_commit("refs/heads/main", who, who, f"note {n}", builder.write(), [parent.id])
    return str(oid)


def test_the_clone_is_opened_again_after_fetches_that_brought_packs(
    repo: Pygit2ConfigRepo, tmp_path: Path
) -> None:
    # libgit2 keeps each fetched pack's inflated delta bases while the repository is open
    # (clone.Clone.reopen): a daemon fetching for weeks must let them go.
    clone = repo._clone
    opened = clone.repo
    for _ in range(3):
        repo.fetch()  # nothing new: no pack, nothing to let go
    assert clone.repo is opened
    for n in range(REOPEN_AFTER):
        assert clone.repo is opened
        tip = _commit_upstream(tmp_path / "remote.git", n)
        repo.fetch()
        assert repo.tip("main") == tip
        assert repo.read(tip, "note.txt") == f"{n}\n".encode()
    assert clone.repo is not opened  # the eighth pack: opened again, reads go on
    assert repo.read(repo.tip("main") or "", "overlays/prod/app-3/kustomization.yaml")
