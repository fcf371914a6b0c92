"""Clones through the real pygit2 adapter report their progress: log lines with the fields
docs/operations.md describes, never a credential. The reporters' clock ticks at each
reading, so a clone of a few MB on this machine looks like a slow one and nothing sleeps."""

from __future__ import annotations

import itertools
import logging
import random
import re
import threading
from pathlib import Path

import pytest

from reconciler.gitrepo.credentials import HttpsToken
from reconciler.gitrepo.port import Transfer
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, callbacks, create_repository
from reconciler.progress import TransferLog
from tests.contract.gitworld import GitWorld
from tests.e2e.world import person
from tests.servers.git_http import serve_git

TOKEN = "ghs_S3cretProgressToken_0123456789"
SIZE = r"\d+(\.\d)? (B|KiB|MiB)"
FIELDS = {
    "event",
    "action",
    "remote",
    "stage",
    "received_objects",
    "total_objects",
    "indexed_objects",
    "indexed_deltas",
    "total_deltas",
    "received_bytes",
    "bytes_per_second",
    "seconds",
}


def noise(count: int, each: int) -> dict[str, bytes]:
    """``count`` files of ``each`` bytes that do not compress: the clone moves them all."""
    draw = random.Random(19)
    return {f"blobs/{n:03d}.bin": draw.randbytes(each) for n in range(count)}


def ticking(step: float) -> TransferLog:
    """Log lines on a clock that moves ``step`` seconds at each reading."""
    return TransferLog(clock=itertools.count(1000.0, step).__next__)


def transfer_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "git-transfer"]


def test_cloning_a_local_repo_of_a_few_mb_logs_its_progress_and_its_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = noise(40, 100_000)
    create_repository(
        tmp_path / "config.git", files, branch="main", message="big", author=person("ci")
    )
    url = (tmp_path / "config.git").as_uri()
    caplog.set_level(logging.INFO, logger="reconciler.gitrepo")
    # A thread reads the clone's counters while libgit2 fills them; read without pause,
    # a clone of a few MB is read often enough for its clock to pass a log line's 5 s.
    monkeypatch.setattr(callbacks, "PROGRESS_EVERY", 0.0)

    repo = Pygit2ConfigRepo.open(url, tmp_path / "cache", watch=ticking(1.0))

    assert repo.tip("main") is not None
    lines = transfer_lines(caplog)
    *running, last = lines
    assert running, [r.getMessage() for r in lines]
    for record in lines:
        assert set(vars(record)) >= FIELDS, record
        assert (vars(record)["action"], vars(record)["remote"]) == ("cloning", url)
    for record in running:
        assert vars(record)["stage"] == "receiving"
        assert re.fullmatch(
            rf"cloning {re.escape(url)}: \d+/\d+ objects, {SIZE}(, resolving deltas \d+/\d+)?"
            rf"(, {SIZE}/s)?",
            record.getMessage(),
        ), record.getMessage()
    counts = [vars(r)["received_objects"] for r in running]
    assert counts == sorted(counts)
    end = vars(last)
    assert end["stage"] == "done"
    assert end["received_objects"] == end["total_objects"] >= len(files)
    assert end["received_bytes"] >= 40 * 100_000
    assert re.fullmatch(
        rf"cloning {re.escape(url)}: done in \d+\.\ds, \d+/\d+ objects, {SIZE} \({SIZE}/s\)",
        last.getMessage(),
    ), last.getMessage()


def test_a_fetch_over_https_with_a_token_shows_the_url_and_never_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file = tmp_path / "git-token"
    token_file.write_text(TOKEN + "\n")
    told: list[Transfer] = []
    report = ticking(2.5)

    def watch(transfer: Transfer) -> None:
        told.append(transfer)
        report(transfer)

    caplog.set_level(logging.INFO, logger="reconciler.gitrepo")
    with serve_git(tmp_path, token=TOKEN) as server:
        world = GitWorld(tmp_path, credentials=HttpsToken(file=token_file))
        world.seed(noise(8, 50_000))
        url = server.url("remote.git")
        Pygit2ConfigRepo.open(url, tmp_path / "cache", credentials=world.credentials, watch=watch)

    assert told[0].stage == "started"
    assert told[-1].stage == "done"
    assert {t.remote for t in told} == {url}
    lines = transfer_lines(caplog)
    assert lines
    assert all(url in r.getMessage() for r in lines)
    shown = "".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records) + repr(told)
    assert TOKEN not in shown


def test_a_clone_of_thousands_of_objects_is_read_a_few_times_not_once_per_object(
    tmp_path: Path,
) -> None:
    # libgit2 would call into Python for each object and delta (190,000 for a 10,000-app
    # repo, 40% of the clone); a thread reads its counters every PROGRESS_EVERY instead.
    files = noise(2_000, 64)
    create_repository(
        tmp_path / "config.git", files, branch="main", message="many", author=person("ci")
    )
    told: list[Transfer] = []

    Pygit2ConfigRepo.open(str(tmp_path / "config.git"), tmp_path / "cache", watch=told.append)

    assert told[-1].stage == "done"
    assert told[-1].received_objects == told[-1].total_objects > len(files)
    # Told at each reading whose 256th changed: told once per object, it would be 256
    # times; read every 50 ms, a clone of well under 5 s is told far fewer.
    assert len(told) < 100, len(told)


def test_a_cycles_fetch_starts_no_progress_thread_a_clone_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A thread per fetch cost an idle cycle half its CPU (0.9 -> 1.4 ms at 10,000 apps):
    # a cycle's fetch, a few objects, is told by libgit2's own callback instead.
    started: list[str] = []

    class Counted(threading.Thread):
        def start(self) -> None:
            started.append(self.name)
            super().start()

    monkeypatch.setattr(threading, "Thread", Counted)
    remote = tmp_path / "config.git"
    create_repository(remote, noise(50, 64), branch="main", message="a", author=person("ci"))
    told: list[Transfer] = []
    repo = Pygit2ConfigRepo.open(str(remote), tmp_path / "cache", watch=told.append)
    assert started.count("git-progress") == 1  # the clone's
    pusher = Pygit2ConfigRepo.open(str(remote), tmp_path / "pusher")
    pusher.update_branch(
        "main",
        lambda _view: {"new.yaml": b"x: 1\n"},
        message="b",
        author=person("ci"),
        committer=person("ci"),
    )

    repo.fetch()

    assert started.count("git-progress") == 1
    assert told[-1].stage == "done"  # still told, by libgit2's callback
    assert repo.read(pusher.tip("main") or "", "new.yaml") == b"x: 1\n"
