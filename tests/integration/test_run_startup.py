"""`reconciler run` start-up mistakes: one line on stderr and exit 2, before any clone; and
the one-shot verbs, which promise no retry.

Each case is the installed command (runproc.py) with one mistake an operator makes: the
--listen port already taken, a token or secret file that cannot be read, a config repo path
that is not there. None of them can be fixed by retrying, so the daemon must not start,
fetch or serve; the cache folder shows that nothing was cloned.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests import figures
from tests.integration.runproc import DaemonProcess, config_repo

# Starting Python and importing the CLI takes about a second; a clone or a retry loop would
# take longer or never end (runproc fails a process that outlives GENEROUS).
FAST = 15.0


def one_line_exit_2(daemon: DaemonProcess, started: float) -> tuple[str, float]:
    """The one line the process printed (it exited 2), and how long it ran."""
    code = daemon.finish()
    took = time.monotonic() - started
    said = daemon.text()
    assert code == 2, said
    assert len(said.splitlines()) == 1, said
    assert said.startswith("reconciler run: "), said
    assert "Traceback" not in said
    assert took < FAST, f"{took:.1f}s: {said}"
    return said, took


def nothing_cloned(cache: Path) -> None:
    """The cache folder holds no clone: at most the lock's owner file."""
    found = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert set(found) <= {"reconciler.owner"}, found


def test_a_taken_listen_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    repo = config_repo(tmp_path / "config.git", "http://127.0.0.1:9")
    cache = tmp_path / "cache"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        daemon = DaemonProcess("run", repo, cache, "--listen", f"127.0.0.1:{port}")
        try:
            said, took = one_line_exit_2(daemon, started)
        finally:
            daemon.stop()
    assert f'--listen "127.0.0.1:{port}": cannot listen there (address already in use)' in said
    assert "pick a free port" in said
    nothing_cloned(cache)
    figures.line(f"run, --listen port taken: one line, exit 2 in {took:.1f}s, nothing cloned")


@pytest.mark.parametrize(
    ("option", "kind"),
    [
        ("--git-token-file", "missing"),
        ("--git-token-file", "folder"),
        ("--git-token-file", "empty"),
        ("--github-token-file", "missing"),
        ("--webhook-secret-file", "missing"),
    ],
)
def test_a_token_file_that_cannot_be_read_is_one_line_and_exit_2(
    tmp_path: Path, option: str, kind: str
) -> None:
    repo = config_repo(tmp_path / "config.git", "http://127.0.0.1:9")
    cache = tmp_path / "cache"
    named = tmp_path / "secrets" / "token"
    if kind == "folder":
        named.mkdir(parents=True)
    elif kind == "empty":
        named.parent.mkdir()
        named.write_text("\n")
    extra = [option, str(named)]
    if option == "--github-token-file":
        extra += ["--forge", "github", "--github-repo", "acme/config"]
    started = time.monotonic()
    daemon = DaemonProcess("run", repo, cache, *extra)
    try:
        said, took = one_line_exit_2(daemon, started)
    finally:
        daemon.stop()
    assert str(named) in said
    if kind == "empty":
        assert f"{option} {named} is empty" in said
    elif option == "--webhook-secret-file":
        assert f"cannot read the webhook secret file {named}" in said
    else:
        reason = "is a directory" if kind == "folder" else "no such file or directory"
        assert f"cannot read {option} {named}: {reason}" in said
    nothing_cloned(cache)
    figures.line(f"run, {option} {kind}: one line, exit 2 in {took:.1f}s, nothing cloned")


@pytest.mark.parametrize("kind", ["missing", "file", "file-url"])
def test_a_missing_repo_path_is_one_line_and_exit_2(tmp_path: Path, kind: str) -> None:
    cache = tmp_path / "cache"
    path = tmp_path / "config.git"
    if kind == "file":
        path.write_text("not a repository\n")
    started = time.monotonic()
    repo = f"file://{path}" if kind == "file-url" else path
    daemon = DaemonProcess("run", repo, cache)
    try:
        said, took = one_line_exit_2(daemon, started)
    finally:
        daemon.stop()
    what = "is not a folder" if kind == "file" else "does not exist"
    assert f"{path} {what}; give the config repo's folder" in said
    nothing_cloned(cache)
    figures.line(f"run, --repo {kind}: one line, exit 2 in {took:.1f}s, nothing cloned")


@pytest.mark.parametrize("verb", ["once", "plan", "status"])
def test_a_verb_that_runs_once_does_not_say_it_will_retry(tmp_path: Path, verb: str) -> None:
    repo = tmp_path / "config.git"
    repo.mkdir()  # no repository in it: the clone fails with a TransientError
    done = DaemonProcess(verb, repo, tmp_path / "cache")
    try:
        code = done.finish()
    finally:
        done.stop()
    said = done.text()
    assert code == 1, said
    assert said.startswith(f"reconciler {verb}: cloning {repo} failed: could not find "), said
    assert said.rstrip().endswith("check the address, the network and the remote"), said
    assert "next cycle" not in said
    assert "retr" not in said
