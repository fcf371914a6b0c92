"""A damaged clone in the cache folder is repaired by the next open or fetch, by itself.

Each kind of damage below is what a kill (mid-fetch, mid-write), a full disk or a person in
the cache folder leaves. The next open (a restarted daemon) or fetch (a running one) must
read the remote's newest commit with every file and the whole history, count one repair,
say so in one log line, and keep the damaged clone aside for a person to look at; lock
files a killed process left are removed instead (no new clone needed). A remote that
cannot be reached is no reason to touch a good clone.
"""

from __future__ import annotations

import gc
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pygit2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.clock import utc_now
from reconciler.errors import TransientError
from reconciler.gitrepo.port import ConfigRepo
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, cacherepair
from reconciler.metrics import Metrics
from reconciler.settings import Settings
from reconciler.wiring import build
from tests import figures
from tests.contract.gitworld import GitWorld
from tests.integration.test_gitrepo import BASE, PROD, STAGING, update

Damage = Callable[[Path, str], None]  # (the clone, the daemon's own commit, stored loose)


def loose(clone: Path, oid: str) -> Path:
    return clone / "objects" / oid[:2] / oid[2:]


def only(clone: Path, pattern: str) -> Path:
    (found,) = clone.glob(pattern)
    return found


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(data[: len(data) // 2])


def git_object(clone: Path, spec: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(clone), "rev-parse", spec],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def corrupt(path: Path) -> None:
    path.chmod(0o644)
    path.write_bytes(b"not a zlib stream")


def write(relative: str, data: str) -> Damage:
    def damage(clone: Path, _ours: str) -> None:
        (clone / relative).write_text(data)

    return damage


def packed(damage: Damage) -> Damage:
    """``damage`` to a clone whose refs were packed first (as ``git pack-refs`` does)."""

    def run(clone: Path, ours: str) -> None:
        subprocess.run(["git", "--git-dir", str(clone), "pack-refs", "--all"], check=True)
        damage(clone, ours)

    return run


def into_a_file(clone: Path, _ours: str) -> None:
    shutil.rmtree(clone)
    clone.write_text("not a repository\n")


DAMAGE: dict[str, Damage] = {
    "truncated pack": lambda c, _o: truncate(only(c, "objects/pack/*.pack")),
    "deleted pack": lambda c, _o: only(c, "objects/pack/*.pack").unlink(),
    "deleted pack index": lambda c, _o: only(c, "objects/pack/*.idx").unlink(),
    "missing loose object": lambda c, o: loose(c, git_object(c, f"{o}^{{tree}}")).unlink(),
    "corrupt loose object": lambda c, o: corrupt(loose(c, git_object(c, f"{o}:{PROD}"))),
    "missing tip commit": lambda c, o: loose(c, o).unlink(),
    "garbage ref": write("refs/remotes/origin/main", "garbage\n"),
    "empty ref": write("refs/remotes/origin/main", ""),
    "garbage packed-refs": packed(write("packed-refs", "garbage\n")),
    "leftover ref lock": write("refs/remotes/origin/main.lock", ""),
    "leftover packed-refs.lock": write("packed-refs.lock", ""),
    "leftover index.lock": write("index.lock", ""),
    "leftover shallow.lock": write("shallow.lock", ""),
    "leftover config.lock": write("config.lock", ""),
    "empty HEAD": write("HEAD", ""),
    "garbage HEAD": write("HEAD", "garbage\n"),
    "missing HEAD": lambda c, _o: (c / "HEAD").unlink(),
    "clone path is a file": into_a_file,
    "missing objects folder": lambda c, _o: shutil.rmtree(c / "objects"),
    "missing refs folder": lambda c, _o: shutil.rmtree(c / "refs"),
    "corrupt config": write("config", "[[[garbage\n"),
    "empty config": write("config", ""),
    "garbage shallow list": write("shallow", "garbage\n"),
}
LOCKS = {kind for kind in DAMAGE if kind.startswith("leftover ")}
# The damage a running daemon's fetch runs into (the rest it finds when it starts again).
FETCH_FAILS = [
    "garbage ref",
    "empty ref",
    "garbage packed-refs",
    "leftover ref lock",
    "leftover shallow.lock",
    "empty HEAD",
    "garbage HEAD",
    "missing HEAD",
    "clone path is a file",
    "missing objects folder",
    "missing refs folder",
    "corrupt config",
    "empty config",
    "garbage shallow list",
]


REPAIRED: dict[str, set[str]] = {"open": set(), "fetch": set()}


@pytest.fixture(scope="module", autouse=True)
def _figure() -> Iterator[None]:
    yield
    if REPAIRED["open"] or REPAIRED["fetch"]:
        figures.line(
            f"cache damage kinds={len(DAMAGE)} repaired_on_open={len(REPAIRED['open'])} "
            f"repaired_on_fetch={len(REPAIRED['fetch'])}/{len(FETCH_FAILS)}"
        )


def damaged_cache(
    tmp_path: Path, kind: str, *, checked: bool = False
) -> tuple[GitWorld, Path, Path, str]:
    """A remote with history, a cache whose clone holds a commit of its own (loose objects),
    the damage done, and a newer commit on the remote; (world, cache, clone, newest).
    ``checked``: a later start found the clone whole before the damage (and noted so)."""
    world = GitWorld(tmp_path)
    world.seed(BASE)
    world.seed({**BASE, STAGING: b"digest: sha256:cc\n"})
    cache = tmp_path / "cache"
    first = Pygit2ConfigRepo.open(world.url, cache)
    ours = update(first, {PROD: b"digest: sha256:dd\n"})
    del first
    gc.collect()  # the first daemon is gone: nothing of it holds the clone open
    (clone,) = cache.iterdir()
    if checked:
        assert Pygit2ConfigRepo.open(world.url, cache).cache_repairs == 0
        gc.collect()
        assert (clone / cacherepair.CHECKED_FILE).is_file()
    DAMAGE[kind](clone, ours)
    newest = world.seed({**BASE, PROD: b"digest: sha256:ee\n"}, message="newest\n")
    return world, cache, clone, newest


def assert_reads_the_remote(repo: ConfigRepo, world: GitWorld, newest: str) -> None:
    assert repo.tip("main") == newest
    view = repo.tree(newest)
    assert {p: view.read(p) for p in world.remote_files(newest)} == world.remote_files(newest)
    titles = [c.title for c in repo.history(newest, PROD, limit=50)]
    assert titles == ["newest", "edit", "seed"]


def assert_repaired_once(
    cache: Path, clone: Path, kind: str, repairs: int, records: list[logging.LogRecord]
) -> None:
    assert repairs == 1
    lines = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines
    assert lines[0].startswith("repaired the cache of ")
    assert str(clone) in lines[0]
    aside = sorted(p.name for p in cache.glob(f"{clone.name}.damaged-*"))
    if kind in LOCKS:
        assert "removed the lock files a killed process left" in lines[0]
        assert aside == []
    else:
        assert "was damaged (" in lines[0]
        assert len(aside) == 1
        assert aside[0] in lines[0]
    assert not list(clone.glob("*.lock"))
    assert not list((clone / "refs").rglob("*.lock"))


@pytest.mark.parametrize("checked", [False, True], ids=["", "found whole before"])
@pytest.mark.parametrize("kind", DAMAGE)
def test_the_next_open_repairs_a_damaged_clone(
    tmp_path: Path, kind: str, checked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    world, cache, clone, newest = damaged_cache(tmp_path, kind, checked=checked)

    with caplog.at_level(logging.WARNING, logger="reconciler.gitrepo"):
        repo = Pygit2ConfigRepo.open(world.url, cache)

    assert_reads_the_remote(repo, world, newest)
    assert_repaired_once(cache, clone, kind, repo.cache_repairs, caplog.records)
    del repo
    gc.collect()
    assert Pygit2ConfigRepo.open(world.url, cache).cache_repairs == 0  # whole now
    REPAIRED["open"].add(kind)


@pytest.mark.parametrize("kind", FETCH_FAILS)
def test_a_fetch_that_fails_on_a_damaged_clone_repairs_it(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    world = GitWorld(tmp_path)
    world.seed(BASE)
    world.seed({**BASE, STAGING: b"digest: sha256:cc\n"})
    cache = tmp_path / "cache"
    repo = Pygit2ConfigRepo.open(world.url, cache)
    ours = update(repo, {PROD: b"digest: sha256:dd\n"})
    (clone,) = cache.iterdir()
    DAMAGE[kind](clone, ours)  # under the running daemon
    newest = world.seed({**BASE, PROD: b"digest: sha256:ee\n"}, message="newest\n")

    with caplog.at_level(logging.WARNING, logger="reconciler.gitrepo"):
        repo.fetch()

    assert_reads_the_remote(repo, world, newest)
    assert_repaired_once(cache, clone, kind, repo.cache_repairs, caplog.records)
    REPAIRED["fetch"].add(kind)


def test_every_object_is_read_again_only_after_the_clone_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading every tree takes 0.3 s at 10,000 apps, at each start of a process: it is
    # skipped while no ref or object file changed since it last found the clone whole.
    walks: list[str] = []
    walk = cacherepair._reachable

    def counted(repo: pygit2.Repository) -> str | None:
        walks.append(repo.path)
        return walk(repo)

    monkeypatch.setattr(cacherepair, "_reachable", counted)
    world = GitWorld(tmp_path)
    world.seed(BASE)
    cache = tmp_path / "cache"

    def start() -> Pygit2ConfigRepo:
        repo = Pygit2ConfigRepo.open(world.url, cache)
        gc.collect()
        return repo

    update(start(), {PROD: b"digest: sha256:dd\n"})  # a new clone, then a commit of its own
    assert len(walks) == 0
    start()
    start()
    assert len(walks) == 1  # the second start found nothing changed
    newest = world.seed({**BASE, PROD: b"digest: sha256:ee\n"})
    fetched = start()
    fetched.fetch()
    assert fetched.tip("main") == newest
    start()
    assert len(walks) == 2  # the fetch brought a pack and moved a ref


def test_an_unreachable_remote_is_no_reason_to_replace_a_clone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = GitWorld(tmp_path)
    tip = world.seed(BASE)
    cache = tmp_path / "cache"
    repo = Pygit2ConfigRepo.open(world.url, cache)
    (clone,) = cache.iterdir()
    marker = clone / "kept"
    marker.write_text("the same clone\n")
    away = tmp_path / "away.git"
    world.path.rename(away)

    with pytest.raises(TransientError, match="no repository at that path"):
        repo.fetch()  # a whole clone, a remote that is gone
    assert list(cache.iterdir()) == [clone]
    assert marker.exists()
    assert repo.tip("main") == tip
    (clone / "refs/remotes/origin/main").write_text("garbage\n")
    del repo
    gc.collect()
    with pytest.raises(TransientError, match="no repository at that path"):
        Pygit2ConfigRepo.open(world.url, cache)  # a damaged clone: kept until a new one is made
    assert list(cache.iterdir()) == [clone]
    assert marker.exists()

    away.rename(world.path)
    newest = world.seed({**BASE, PROD: b"digest: sha256:ee\n"}, message="newest\n")
    with caplog.at_level(logging.WARNING, logger="reconciler.gitrepo"):
        repo = Pygit2ConfigRepo.open(world.url, cache)
    assert repo.tip("main") == newest
    assert_repaired_once(cache, clone, "garbage ref", repo.cache_repairs, caplog.records)


def test_at_most_two_damaged_clones_are_kept(tmp_path: Path) -> None:
    world = GitWorld(tmp_path)
    world.seed(BASE)
    cache = tmp_path / "cache"
    Pygit2ConfigRepo.open(world.url, cache)
    (clone,) = cache.iterdir()
    for round_ in range(4):
        (clone / "HEAD").write_text(f"garbage {round_}\n")
        gc.collect()
        assert Pygit2ConfigRepo.open(world.url, cache).cache_repairs == 1

    aside = sorted(cache.glob(f"{clone.name}.damaged-*"))
    assert len(aside) == 2
    assert [(p / "HEAD").read_text() for p in aside] == ["garbage 2\n", "garbage 3\n"]


def test_a_lock_file_is_removed_only_once_its_writer_is_gone(tmp_path: Path) -> None:
    world = GitWorld(tmp_path)
    world.seed(BASE)
    cache = tmp_path / "cache"
    repo = Pygit2ConfigRepo.open(world.url, cache)
    (clone,) = cache.iterdir()
    lock = clone / "refs/remotes/origin/main.lock"
    other = Pygit2ConfigRepo.open(world.url, cache)  # another daemon on the same cache...
    newest = world.seed({**BASE, PROD: b"digest: sha256:ee\n"})
    writing = other._writing()
    writing.__enter__()  # ... in the middle of a fetch, holding the lock
    lock.write_text("")

    with pytest.raises(TransientError, match=r"main\.lock"):
        repo.fetch()
    assert lock.exists()
    assert repo.cache_repairs == 0

    del other, writing  # that daemon dies there: its flock goes, its lock file stays
    gc.collect()
    repo.fetch()
    assert repo.tip("main") == newest
    assert not lock.exists()
    assert repo.cache_repairs == 1


def test_repairs_are_counted_in_reconciler_cache_repairs_total(tmp_path: Path) -> None:
    world, cache, _, _ = damaged_cache(tmp_path, "garbage HEAD")
    assert _counted(Metrics()) == 0  # served from the start, before any repair

    # The daemon as the `reconciler` command builds it, on the damaged cache.
    wired = build(Settings(repo=world.url, cache_dir=cache), utc_now)
    repo, metrics = wired.repo, wired.metrics
    assert _counted(metrics) == 1  # repaired as it opened
    (clone,) = [p for p in cache.iterdir() if p.suffix == ".git"]
    (clone / "refs/remotes/origin/main").write_text("")
    world.seed({**BASE, PROD: b"digest: sha256:ff\n"})
    repo.fetch()  # and as it fetches
    assert _counted(metrics) == 2


def _counted(metrics: Metrics) -> float:
    text = metrics.exposition().decode()
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "reconciler_cache_repairs"
    ]
    assert family.type == "counter"
    (sample,) = family.samples
    assert sample.name == "reconciler_cache_repairs_total"
    return float(sample.value)
