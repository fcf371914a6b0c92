"""The daemon explains itself: the poll interval in force, an invalid policy once per bad
commit with every position, /readyz naming that commit; and one-shot verbs promise no
next cycle (one_shot, their log handler)."""

from __future__ import annotations

import ast
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import reconciler
from reconciler import errors
from reconciler.actions import Plan
from reconciler.applying import ActionOutcome
from reconciler.cycle import CycleRunner
from reconciler.daemon import Cadence, CycleStatus
from reconciler.errors import one_shot
from reconciler.logs import configure_one_shot_logging
from reconciler.metrics import Metrics
from reconciler.observing import Observation
from reconciler.policy import Policy
from reconciler.policy.loader import load_policy
from reconciler.snapshot import Snapshot
from tests.unit.daemonharness import Scripted, ok
from tests.unit.test_daemon import status_after

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
POLICY = """\
version = 1
[apps.gw]
image = "reg.example.com/team/gw"
[environments.dev]
overlay = "overlays/dev"
"""
BAD = ("promotions.toml:3:1: unknown key", "promotions.toml:7:9: expected a string")


# -- the poll interval ---------------------------------------------------------------------


def told(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if getattr(r, "event", None) in ("started", "interval")
    ]


def test_an_interval_not_known_at_start_is_told_once_known_and_again_when_it_changes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before cycle 1 nothing is known; cycle 1 reads no valid policy (the default), cycles 2
    # and 3 read one at 5s (told once), cycle 4 one at 60s.
    cadences = [
        Cadence(timedelta(seconds=5), None),
        Cadence(timedelta(seconds=30), "the default"),
        Cadence(timedelta(seconds=5), "the policy's poll_interval"),
        Cadence(timedelta(seconds=5), "the policy's poll_interval"),
        Cadence(timedelta(seconds=60), "the policy's poll_interval"),
    ]
    caplog.set_level(logging.INFO, logger="reconciler.daemon")
    script = Scripted(
        [ok] * 5, interval=lambda s: cadences[min(len(s.starts), len(cadences) - 1)]
    ).run()
    assert told(caplog) == [
        "started: a cycle now, then on the poll interval in force (logged once the policy is read)",
        "poll interval: every 30s (+ up to 0% jitter), the default",
        "poll interval: every 5s (+ up to 0% jitter), the policy's poll_interval",
        "poll interval: every 60s (+ up to 0% jitter), the policy's poll_interval",
    ]
    gaps = [round(b - a) for a, b in zip(script.starts, script.starts[1:], strict=False)]
    assert gaps == [30, 5, 5, 60]


def test_a_known_interval_is_told_at_start_and_not_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.daemon")
    Scripted([ok, ok, ok], interval=lambda _s: timedelta(seconds=10)).run()
    assert told(caplog) == ["started: a cycle now, then every 10s (+ up to 0% jitter)"]
    started = next(r for r in caplog.records if getattr(r, "event", None) == "started")
    assert getattr(started, "interval_seconds", None) == 10.0


def test_an_interval_under_a_second_is_told_as_the_floor_in_force(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.daemon")
    Scripted([ok], interval=lambda _s: Cadence(timedelta(milliseconds=100), "the policy")).run()
    assert told(caplog) == ["started: a cycle now, then every 1s (+ up to 0% jitter), the policy"]


# -- /readyz names the bad commit ----------------------------------------------------------

COMMIT = "0123456789abcdef" * 2 + "01234567"


@pytest.mark.parametrize(
    ("outcome", "ready", "reason"),
    [
        pytest.param(
            CycleStatus(
                ok=True,
                policy_valid=False,
                last_good_policy=True,
                summary="on the last good policy",
                invalid_commit=COMMIT,
                policy_problems=2,
            ),
            True,
            "ready; cycle 1 ran on the last good policy: the policy at commit 0123456789ab of "
            "the base branch is invalid (2 problems, logged at WARNING)",
            id="last-good",
        ),
        pytest.param(
            CycleStatus(
                ok=True,
                policy_valid=False,
                summary="no policy",
                invalid_commit=COMMIT,
                policy_problems=1,
            ),
            False,
            "not ready; cycle 1 found no valid policy: the policy at commit 0123456789ab of "
            "the base branch is invalid (1 problem, logged at WARNING); fix promotions.toml "
            "on the base branch",
            id="none-valid",
        ),
    ],
)
def test_readyz_names_the_commit_whose_policy_is_invalid(
    outcome: CycleStatus, ready: bool, reason: str
) -> None:
    assert status_after([outcome]) == (ready, reason)


# -- the invalid policy in the daemon's log ------------------------------------------------


class Observed:
    """An observer that returns the next scripted observation."""

    def __init__(self, observations: list[Observation]) -> None:
        self.left = list(observations)

    def observe(self, *, one_shot: bool = False) -> Observation:
        return self.left.pop(0)

    def keep(self, *, one_shot: bool) -> None:
        """Nothing parsed to keep."""


class NoActions:
    def apply(self, plan: Plan, base_branch: str) -> list[ActionOutcome]:
        return []


def good() -> Policy:
    loaded = load_policy(POLICY.encode())
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy


def seen(commit: str, *, valid: bool, last_good: Policy | None) -> Observation:
    errors = () if valid else BAD
    snapshot = Snapshot(base_branch="main", base_commit=commit, policy_errors=errors)
    return Observation(last_good, snapshot, policy_valid=valid)


def runner(observations: list[Observation]) -> CycleRunner:
    return CycleRunner(Observed(observations), NoActions(), Metrics(), lambda: NOW)  # type: ignore[arg-type]


def policy_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if str(getattr(r, "event", "")).startswith("policy-")]


def test_an_invalid_policy_is_a_warning_with_every_position_once_per_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = good()
    cycles = runner(
        [
            seen("a" * 40, valid=True, last_good=policy),
            seen("b" * 40, valid=False, last_good=policy),
            seen("b" * 40, valid=False, last_good=policy),  # the same commit: said already
            seen("c" * 40, valid=False, last_good=policy),  # a new bad commit: said again
            seen("d" * 40, valid=True, last_good=policy),
            seen("d" * 40, valid=True, last_good=policy),
        ]
    )
    caplog.set_level(logging.INFO, logger="reconciler.cycle")
    for _ in range(6):
        cycles.cycle()
    records = policy_records(caplog)
    assert [(r.levelname, getattr(r, "commit", "")[:1]) for r in records] == [
        ("WARNING", "b"),
        ("WARNING", "c"),
        ("INFO", "d"),
    ]
    first = records[0]
    assert first.getMessage() == (
        "policy INVALID at commit bbbbbbbbbbbb on main (the last good policy stays in force), "
        f"2 problems: {BAD[0]} | {BAD[1]}"
    )
    assert getattr(first, "policy_errors", None) == list(BAD)
    assert records[2].getMessage() == "policy valid again at commit dddddddddddd on main"


def test_with_no_valid_policy_yet_the_warning_says_nothing_is_promoted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.cycle")
    runner([seen("e" * 40, valid=False, last_good=None)]).cycle()
    (record,) = policy_records(caplog)
    assert "no valid policy yet: nothing is promoted until it is fixed" in record.getMessage()


def test_a_one_shot_cycle_leaves_the_policy_to_the_verb(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.cycle")
    runner([seen("f" * 40, valid=False, last_good=good())]).cycle(one_shot=True)
    assert policy_records(caplog) == []


# -- one-shot verbs promise no next cycle --------------------------------------------------

# Every message of the daemon's own that promises a next cycle and may reach `once`, `plan`
# or `status`, as written in its module; the rewrite must leave no promise in any of them.
MESSAGES = [
    (
        "cloning /srv/config.git failed: there is no repository at that path; check the path "
        "(it will be retried next cycle)",
        "cloning /srv/config.git failed: there is no repository at that path; check the path",
    ),
    (
        "could not list pull requests: GitHub answered 502 (Bad Gateway); it will be tried "
        "again next cycle",
        "could not list pull requests: GitHub answered 502 (Bad Gateway)",
    ),
    (
        "registry r.example: request budget of 3 per cycle spent, next cycle",
        "registry r.example: request budget of 3 per cycle spent",
    ),
    (
        "ECR describe_images on shop/cart failed (ThrottlingException); retrying next cycle",
        "ECR describe_images on shop/cart failed (ThrottlingException)",
    ),
    (
        "gave up updating branch 'main' after 5 attempts: another writer moved it each time; "
        "the change will be tried again next cycle",
        "gave up updating branch 'main' after 5 attempts: another writer moved it each time",
    ),
    (
        "another writer updated it; it was left as is and will be looked at again next cycle",
        "another writer updated it; it was left as is",
    ),
    (
        "request #4's head 0123456789ab was pushed after this cycle fetched; it is checked "
        "next cycle",
        "request #4's head 0123456789ab was pushed after this cycle fetched; run again to check it",
    ),
    (
        "3 of 9 probes did not fit in this cycle's probing budget of 60s and are taken next "
        "cycle (endpoints that hang, or long gate timeouts, use it up)",
        "3 of 9 probes did not fit in this cycle's probing budget of 60s and were not taken "
        "(endpoints that hang, or long gate timeouts, use it up)",
    ),
]


@pytest.mark.parametrize(("daemon", "once"), MESSAGES)
def test_one_shot_text_drops_the_promise_of_a_next_cycle(daemon: str, once: str) -> None:
    assert one_shot(daemon) == once


# Modules whose words reach only the daemon (or the policy reference), never a one-shot verb,
# and the rewrite itself.
REWRITES = {pattern.pattern for pattern, _ in errors._RETRY_PROMISES}
DAEMON_ONLY = ("daemon/", "server.py", "policy/", "verbs/reconcile.py", "presenting.py")


def _templates(tree: ast.AST) -> Iterator[str]:
    """Each string the module builds at run time, f-string fields shown as X (docstrings,
    which are statements of their own, left out)."""
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield "".join(
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "X"
                for v in node.values
            )
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.value


def test_every_next_cycle_promise_in_the_code_is_rewritten_for_one_shot_verbs() -> None:
    package = Path(reconciler.__file__).parent
    promises = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package).as_posix()
        if where.startswith(DAEMON_ONLY):
            continue
        for text in _templates(ast.parse(path.read_text(), str(path))):
            if text in REWRITES:
                continue  # the rewrite's own patterns (errors.one_shot)
            if "next cycle" in text or "next\ncycle" in text:
                promises.append((where, text))
    assert promises, "the scan found nothing: is it still looking at the code?"
    kept = [(where, text) for where, text in promises if "next cycle" in one_shot(text)]
    assert kept == []


def test_one_shot_logging_prints_warnings_alone_without_promises(
    restore_root: None,
) -> None:
    out = io.StringIO()
    configure_one_shot_logging(one_shot, stream=out)
    logging.getLogger("reconciler.cycle").info("blocked gw -> prod: [gate:health] failing")
    logging.getLogger("reconciler.cycle").warning(
        "action failed: %s",
        "could not open #3: GitHub answered 502 (x); it will be tried again next cycle",
    )
    logging.getLogger("urllib3").warning("https://user:ghp_secret@host/ is retried")
    assert out.getvalue().splitlines() == [
        "action failed: could not open #3: GitHub answered 502 (x)",
        "message withheld: urllib3 is a library and may log credentials",
    ]


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
