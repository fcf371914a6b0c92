"""The cache's clone is packed as `git gc --auto` would keep it, and nothing is lost.

libgit2 writes every object the daemon makes as a file of its own and never packs them,
and each fetch that brings objects adds a pack: at 10,000 apps, 1,000 promotions left
16,000 files and 328 MB in the cache folder. After a fetch, past git's thresholds (about
6,700 loose objects, estimated from one of the 256 object folders; more than 50 packs),
one new pack takes them in. git itself judges the result: `git fsck` finds the clone whole,
`git count-objects` finds nothing loose.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from benchmarks.generate import generate
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, housekeeping
from tests.integration.test_gitrepo import update

PROD = "overlays/prod/svc-0000/kustomization.yaml"


def counts(clone: Path) -> dict[str, int]:
    """git's count of the clone's loose objects and packs."""
    done = subprocess.run(
        ["git", "--git-dir", str(clone), "count-objects", "-v"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = dict(line.split(": ") for line in done.stdout.splitlines())
    return {"loose": int(found["count"]), "packs": int(found["packs"])}


def assert_whole(clone: Path) -> None:
    """git's verdict: every object every ref reaches is there and well formed."""
    check = subprocess.run(
        ["git", "--git-dir", str(clone), "fsck", "--full", "--strict", "--no-dangling"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return generate(tmp_path / "remote.git", 3)


def clone_of(repo: Pygit2ConfigRepo) -> Path:
    return Path(repo._clone.repo.path)


def test_due_reads_gits_thresholds(tmp_path: Path) -> None:
    clone = tmp_path / "clone.git"
    sample = clone / "objects" / "17"
    packs = clone / "objects" / "pack"
    sample.mkdir(parents=True)
    packs.mkdir()
    assert not housekeeping.due(clone)
    for n in range(27):  # 27 x 256 = 6,912 estimated: git's gc.auto (6,700) rounds up
        (sample / f"{n:038x}").write_bytes(b"x")
    (sample / "tmp_obj_abc").write_bytes(b"x")  # a killed write's leftover: no object
    assert not housekeeping.due(clone)
    (sample / f"{99:038x}").write_bytes(b"x")
    assert housekeeping.due(clone)
    for name in sample.iterdir():
        name.unlink()
    for n in range(50):
        (packs / f"pack-{n:040x}.pack").write_bytes(b"x")
        (packs / f"pack-{n:040x}.idx").write_bytes(b"x")
    (packs / f"pack-{99:040x}.pack").write_bytes(b"x")  # no index: not a pack yet
    (packs / f"pack-{98:040x}.pack").write_bytes(b"x")
    (packs / f"pack-{98:040x}.idx").write_bytes(b"x")
    (packs / f"pack-{98:040x}.keep").write_bytes(b"")  # kept: git never repacks it
    assert not housekeeping.due(clone)
    (packs / f"pack-{97:040x}.pack").write_bytes(b"x")
    (packs / f"pack-{97:040x}.idx").write_bytes(b"x")
    assert housekeeping.due(clone)


def test_a_fetch_past_the_threshold_packs_what_the_daemon_wrote(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = Pygit2ConfigRepo.open(str(remote), tmp_path / "cache")
    clone = clone_of(repo)
    written = [update(repo, {PROD: f"digest: sha256:{n:064x}\n".encode()}) for n in range(40)]
    before = counts(clone)
    assert before["loose"] >= 40 * 4  # a commit, its blob and the trees above it
    reader = pygit2.Repository(str(clone))  # another process's, opened before
    assert reader.get(written[0]) is not None

    monkeypatch.setattr(housekeeping, "due", lambda _clone: True)
    with caplog.at_level(logging.INFO, logger="reconciler.gitrepo"):
        repo.fetch()
    after = counts(clone)
    assert after == {"loose": 0, "packs": 2}  # the clone's own pack, and the new one
    assert_whole(clone)
    assert "packed the objects of the cache's clone" in caplog.text
    assert repo.read(written[-1], PROD) == f"digest: sha256:{39:064x}\n".encode()
    assert repo.read(written[0], PROD) == f"digest: sha256:{0:064x}\n".encode()
    for commit in written:  # what the reader opened before still reads, from the new pack
        assert reader.get(commit) is not None
    assert Pygit2ConfigRepo.open(str(remote), tmp_path / "cache").cache_repairs == 0


def test_many_packs_fold_into_one_and_a_kept_pack_stays(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Pygit2ConfigRepo.open(str(remote), tmp_path / "cache")
    person = Pygit2ConfigRepo.open(str(remote), tmp_path / "person")
    clone = clone_of(repo)
    pushed = []
    for n in range(6):  # each fetch that brings a commit adds a pack
        pushed.append(update(person, {PROD: f"digest: sha256:{n:064x}\n".encode()}))
        repo.fetch()
    packs = sorted((clone / "objects" / "pack").glob("*.pack"))
    assert len(packs) == 7
    kept = min(packs, key=lambda p: p.stat().st_size)
    kept.with_suffix(".keep").write_text("a person keeps this one\n")

    monkeypatch.setattr(housekeeping, "due", lambda _clone: True)
    repo.fetch()
    remaining = sorted((clone / "objects" / "pack").glob("*.pack"))
    assert kept in remaining
    assert len(remaining) == 3  # the clone's own (the largest), the kept one, the new one
    assert_whole(clone)
    for commit in pushed:
        assert repo.commit_info(commit).parents


def test_nothing_is_removed_when_the_pack_cannot_be_written(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Pygit2ConfigRepo.open(str(remote), tmp_path / "cache")
    clone = clone_of(repo)
    written = update(repo, {PROD: b"digest: sha256:ee\n"})
    before = counts(clone)

    def full_disk(_builder: pygit2.PackBuilder, _path: str) -> None:
        raise pygit2.GitError(os.strerror(28))  # ENOSPC, as libgit2 reports it

    monkeypatch.setattr(pygit2.PackBuilder, "write", full_disk)
    with pytest.raises(pygit2.GitError, match="No space left"):
        housekeeping.pack(pygit2.Repository(str(clone)), clone)
    assert counts(clone) == before
    assert repo.read(written, PROD) == b"digest: sha256:ee\n"
    assert_whole(clone)


def test_a_failed_packing_process_is_a_warning_and_loses_nothing(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = Pygit2ConfigRepo.open(str(remote), tmp_path / "cache")
    clone = clone_of(repo)
    written = update(repo, {PROD: b"digest: sha256:ee\n"})
    before = counts(clone)

    monkeypatch.setattr(housekeeping, "due", lambda _clone: True)
    monkeypatch.setattr(sys, "executable", shutil.which("false"))  # a process that fails
    with caplog.at_level(logging.WARNING, logger="reconciler.gitrepo"):
        repo.fetch()
    assert "could not pack the objects" in caplog.text
    assert "ended with 1" in caplog.text
    assert counts(clone) == before
    assert repo.read(written, PROD) == b"digest: sha256:ee\n"
    assert_whole(clone)


def test_the_pack_is_built_in_a_process_of_its_own(
    remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pack builder's memory (45 MB at its peak at 10,000 apps) must not stay in the
    # daemon's heap: built here, it would meet this process's refusal.
    repo = Pygit2ConfigRepo.open(str(remote), tmp_path / "cache")
    clone = clone_of(repo)
    written = update(repo, {PROD: b"digest: sha256:ee\n"})

    def not_here(*_args: object) -> None:
        raise AssertionError("the pack builder ran in the daemon's process")

    monkeypatch.setattr(housekeeping, "due", lambda _clone: True)
    monkeypatch.setattr(pygit2, "PackBuilder", not_here)
    repo.fetch()
    assert counts(clone) == {"loose": 0, "packs": 2}
    assert repo.read(written, PROD) == b"digest: sha256:ee\n"
    assert_whole(clone)
