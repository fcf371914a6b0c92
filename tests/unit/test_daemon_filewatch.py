"""File changes in a local config repo start a cycle: real folders, real git, real watchers.

Each test waits on an Event set by the cycle (generous timeout, no sleeps). The daemon
starts its first cycle only once the watch is in place, so a change made after the first
cycle started cannot be missed.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.daemon import CycleRun, CycleStatus, Daemon
from reconciler.filewatch import FileWatcher, WatchScope, describe, scope_for

OK = CycleStatus(ok=True, policy_valid=True, summary="nothing to do")
GENEROUS = 30.0


def git(*args: str, cwd: Path) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, input="", capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def bare_repo(path: Path) -> Path:
    git("init", "-q", "--bare", "-b", "main", str(path), cwd=path.parent)
    return path


def work_repo(path: Path) -> Path:
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    return path


# -- which changes count ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "refs_only", "expected"),
    [
        ("/r/refs/heads/main", True, "refs/heads/main"),
        ("/r/refs/heads/promote/prod/gw", True, "refs/heads/promote/prod/gw"),
        ("/r/packed-refs", True, "packed-refs"),
        ("/r/reftable/tables.list", True, "reftable/tables.list"),
        ("/r/refs/heads/main.lock", True, None),  # git's lock: the rename is the change
        ("/r/packed-refs.lock", True, None),
        ("/r/objects/ab/cdef", True, None),
        ("/r/logs/refs/heads/main", True, None),  # reflogs follow refs, nothing new
        ("/r/HEAD", True, None),
        ("/r/index", True, None),
        ("/r/sub/packed-refs", True, None),
        ("/r", True, None),
        ("/elsewhere/refs/heads/main", True, None),
        ("/r/overlays/prod/kustomization.yaml", False, "overlays/prod/kustomization.yaml"),
        ("/r/promotions.toml", False, "promotions.toml"),
        ("/elsewhere/promotions.toml", False, None),
    ],
)
def test_relevant_changes(path: str, refs_only: bool, expected: str | None) -> None:
    assert WatchScope(Path("/r"), refs_only).relevant(path) == expected


def test_scope_of_a_bare_repo_a_work_repo_and_a_folder(tmp_path: Path) -> None:
    bare = bare_repo(tmp_path / "config.git")
    work = work_repo(tmp_path / "work")
    folder = tmp_path / "folder"
    folder.mkdir()
    assert scope_for(bare) == WatchScope(bare.resolve(), refs_only=True)
    assert scope_for(work) == WatchScope(work.resolve() / ".git", refs_only=True)
    assert scope_for(folder) == WatchScope(folder.resolve(), refs_only=False)


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        ([], "nothing"),
        (["refs/heads/main"], "refs/heads/main"),
        (["refs/heads/b", "refs/heads/a", "refs/heads/a"], "refs/heads/a and 1 more"),
    ],
)
def test_describe(paths: list[str], expected: str) -> None:
    assert describe(paths) == expected


# -- the watcher --------------------------------------------------------------------------


@pytest.fixture
def watchers() -> Iterator[list[FileWatcher]]:
    made: list[FileWatcher] = []
    yield made
    for w in made:
        w.stop()


def test_watcher_reports_a_new_file_and_stops_cleanly(
    tmp_path: Path, watchers: list[FileWatcher]
) -> None:
    seen: list[str] = []
    changed = threading.Event()

    def on_change(what: str) -> None:
        seen.append(what)
        changed.set()

    watcher = FileWatcher(tmp_path, on_change, debounce_ms=200).start()
    watchers.append(watcher)
    assert watcher.wait_ready(GENEROUS)
    (tmp_path / "promotions.toml").write_text("[settings]\n")
    assert changed.wait(GENEROUS)
    assert seen[0] == "promotions.toml"
    watcher.stop()
    assert not watcher.alive


def test_watching_a_missing_folder_fails_without_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = FileWatcher(tmp_path / "gone", lambda _what: None).start()
    assert watcher.wait_ready(GENEROUS) is False
    watcher.stop()
    assert not watcher.alive
    assert "cycles run on poll_interval only" in caplog.text


# -- the daemon, woken by changes ---------------------------------------------------------


class Cycles:
    """A cycle that counts its runs and lets a test wait for the n-th one."""

    def __init__(self) -> None:
        self.records: list[CycleRun] = []
        self._done = threading.Condition()

    def __call__(self) -> CycleStatus:
        return OK

    def record(self, record: CycleRun) -> None:
        with self._done:
            self.records.append(record)
            self._done.notify_all()

    def wait_for(self, count: int) -> list[CycleRun]:
        with self._done:
            assert self._done.wait_for(lambda: len(self.records) >= count, GENEROUS)
            return list(self.records)


@pytest.fixture
def watched() -> Iterator[Callable[[Path], Cycles]]:
    running: list[tuple[Daemon, threading.Thread]] = []

    def start(path: Path) -> Cycles:
        cycles = Cycles()
        daemon = Daemon(
            cycles,
            interval=timedelta(hours=1),  # only file changes start cycles in these tests
            watch_path=path,
            watch_debounce_ms=200,
            on_cycle=cycles.record,
        )
        thread = threading.Thread(target=daemon.run)
        thread.start()
        running.append((daemon, thread))
        cycles.wait_for(1)  # the first cycle starts once the watch is in place
        return cycles

    yield start
    for daemon, thread in running:
        daemon.stop()
        thread.join(GENEROUS)
        assert not thread.is_alive()


def test_a_new_file_in_a_folder_starts_a_cycle(
    tmp_path: Path, watched: Callable[[Path], Cycles]
) -> None:
    cycles = watched(tmp_path)
    (tmp_path / "promotions.toml").write_text("[settings]\n")
    assert cycles.wait_for(2)[1].trigger == "file change: promotions.toml"


def test_a_ref_update_in_a_bare_repo_starts_a_cycle(
    tmp_path: Path, watched: Callable[[Path], Cycles]
) -> None:
    repo = bare_repo(tmp_path / "config.git")
    tree = git("mktree", cwd=repo)
    commit = git("commit-tree", tree, "-m", "first", cwd=repo)  # writes objects: no cycle
    cycles = watched(repo)
    git("update-ref", "refs/heads/main", commit, cwd=repo)  # lock file, then rename
    records = cycles.wait_for(2)
    assert records[1].trigger == "file change: refs/heads/main"


def test_objects_alone_start_no_cycle_the_ref_update_after_them_does(
    tmp_path: Path, watched: Callable[[Path], Cycles]
) -> None:
    repo = bare_repo(tmp_path / "config.git")
    cycles = watched(repo)
    tree = git("mktree", cwd=repo)
    commit = git("commit-tree", tree, "-m", "first", cwd=repo)  # objects/ only
    git("update-ref", "refs/heads/main", commit, cwd=repo)
    records = cycles.wait_for(2)
    # Had the object writes counted, they would have started cycle 2 or shared its trigger.
    assert records[1].trigger == "file change: refs/heads/main"


def test_a_commit_in_a_work_repo_starts_a_cycle_worktree_edits_do_not(
    tmp_path: Path, watched: Callable[[Path], Cycles]
) -> None:
    repo = work_repo(tmp_path / "work")
    cycles = watched(repo)
    (repo / "promotions.toml").write_text("[settings]\n")  # not committed: no cycle
    git("add", "promotions.toml", cwd=repo)  # the index: no cycle
    git("commit", "-q", "-m", "policy", cwd=repo)
    records = cycles.wait_for(2)
    assert records[1].trigger == "file change: refs/heads/main"
