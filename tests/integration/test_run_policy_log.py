"""A running `reconciler run` explains its policy: the poll interval in force, and an invalid
policy pushed to it with every FILE:LINE:COL problem, once per bad commit, then valid again.

The daemon is the installed command with its JSON log read line by line (runproc.py); the
config repo is a bare repository on disk the test pushes to with the git command line, as a
person would.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

from reconciler.policy.loader import load_policy
from tests import figures
from tests.contract.gitcli import GitCli
from tests.integration.runproc import DaemonProcess, Line, config_repo

POLL = 'poll_interval = "1s"'


class Pusher:
    """A clone of the config repo that pushes new versions of promotions.toml to main."""

    def __init__(self, repo: Path, tmp: Path) -> None:
        self.git = GitCli(tmp / "home")
        self.work = tmp / "work"
        self.git("clone", "-q", str(repo), str(self.work))

    def policy(self) -> str:
        return (self.work / "promotions.toml").read_text()

    def push(self, edit: Callable[[str], str], message: str) -> str:
        """Commit ``edit`` of the current policy and push it; the new commit id."""
        commit = self.git.commit_file(self.work, "promotions.toml", edit(self.policy()), message)
        self.git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return commit


def event(name: str) -> Callable[[Line], bool]:
    return lambda r: r.get("event") == name


def test_the_daemon_logs_its_interval_and_every_position_of_an_invalid_policy_once(
    tmp_path: Path,
) -> None:
    repo = config_repo(tmp_path / "config.git", "http://127.0.0.1:9")
    pusher = Pusher(repo, tmp_path)
    assert POLL in pusher.policy()
    daemon = DaemonProcess("run", repo, tmp_path / "cache")
    try:
        # The interval is not known before the policy is read: the start-up line says so,
        # and the policy's own interval is logged after the first cycle.
        started = daemon.wait_for(event("started"), "the start-up line")
        assert "every" not in started["message"], started
        told = daemon.wait_for(event("interval"), "the interval line")
        assert told["interval_seconds"] == 1.0
        assert told["message"].startswith("poll interval: every 1s"), told
        assert "poll_interval" in told["message"]

        # Two mistakes: an unknown key (with its did-you-mean) and a value of the wrong type.
        def break_it(policy: str) -> str:
            broken = policy.replace(POLL, POLL + '\npoll_intervl = "5s"', 1)
            return broken.replace('kustomize_image = "order-gateway"', "kustomize_image = 7", 1)

        expected = problems(break_it(pusher.policy()))
        assert len(expected) == 2, expected
        bad = pusher.push(break_it, "break the policy")
        warned = daemon.wait_for(event("policy-invalid"), "the invalid policy's warning")
        assert warned["level"] == "warning"
        assert warned["commit"] == bad
        assert warned["policy_errors"] == expected
        for problem in expected:
            assert re.match(r"promotions\.toml:\d+:\d+: ", problem), problem
            assert problem in warned["message"]
        assert f"commit {bad[:12]}" in warned["message"]
        assert "the last good policy stays in force" in warned["message"]

        # Later cycles on the same commit do not repeat it (their summaries say INVALID).
        after = cycle_number(daemon, lambda r: not r["policy_valid"])
        daemon.wait_for(
            lambda r: r.get("event") == "cycle" and r["cycle"] >= after + 2, "two more cycles"
        )
        assert len(invalid_warnings(daemon)) == 1
        code, body = daemon.get("/readyz")
        assert code == 200, body
        assert body.startswith("ready; cycle ")
        assert f"ran on the last good policy: the policy at commit {bad[:12]} " in body
        assert "is invalid (2 problems, logged at WARNING)" in body

        # Another bad commit is another warning, naming it.
        worse = pusher.push(lambda p: p + "\n# still broken\n", "still broken")
        again = daemon.wait_for(
            lambda r: r.get("event") == "policy-invalid" and r["commit"] == worse,
            "the second bad commit's warning",
        )
        assert again["policy_errors"] == expected
        assert len(invalid_warnings(daemon)) == 2

        # A valid commit that also changes the interval: both are said, once.
        good = pusher.push(
            lambda p: (
                p.replace('\npoll_intervl = "5s"', "", 1)
                .replace("kustomize_image = 7", 'kustomize_image = "order-gateway"', 1)
                .replace(POLL, 'poll_interval = "2s"', 1)
            ),
            "fix the policy, poll every 2s",
        )
        valid = daemon.wait_for(event("policy-valid"), "the policy valid again")
        assert valid["commit"] == good
        assert valid["level"] == "info"
        retold = daemon.wait_for(
            lambda r: r.get("event") == "interval" and r["interval_seconds"] == 2.0,
            "the new interval",
        )
        assert retold["message"].startswith("poll interval: every 2s"), retold
        code, body = daemon.get("/readyz")
        assert code == 200
        assert "invalid" not in body, body
        daemon.signal(signal.SIGTERM)
        assert daemon.finish() == 0
    finally:
        daemon.stop()
    records = daemon.records()
    assert [r["interval_seconds"] for r in records if r.get("event") == "interval"] == [1.0, 2.0]
    assert len(invalid_warnings(daemon)) == 2
    assert len([r for r in records if r.get("event") == "policy-valid"]) == 1
    figures.line(
        "run, invalid policy pushed: one WARNING per bad commit naming it with both "
        "FILE:LINE:COL problems, not repeated by later cycles, /readyz 200 naming the "
        "commit; valid again logged; interval logged at 1s, then 2s"
    )


def invalid_warnings(daemon: DaemonProcess) -> list[Line]:
    return [r for r in daemon.records() if r.get("event") == "policy-invalid"]


def problems(policy: str) -> list[str]:
    """What `reconciler validate` says of ``policy`` (no overlay paths checked)."""
    return [str(d) for d in load_policy(policy.encode(), "promotions.toml").diagnostics]


def cycle_number(daemon: DaemonProcess, wanted: Callable[[Line], bool]) -> int:
    """The number of the first cycle whose log line ``wanted`` accepts."""
    line = daemon.wait_for(lambda r: r.get("event") == "cycle" and wanted(r), "such a cycle")
    number: int = line["cycle"]
    return number
