"""The `checks` gate's verdict, table-driven, and GitHub's check run words mapped to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.forge.github.checks import run_state
from reconciler.forge.port import CheckKind, CheckState, CommitCheck, CommitChecks
from reconciler.gates.checks import evaluate_checks
from reconciler.policy.model import ChecksGate

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SHA = "a" * 40
LINK = "https://ci.example.com/runs/"


def check(
    name: str,
    word: str,
    minutes_ago: int = 5,
    kind: CheckKind = "status",
) -> CommitCheck:
    states: dict[str, CheckState] = {
        "success": "passed",
        "neutral": "passed",
        "skipped": "passed",
        "pending": "pending",
        "in_progress": "pending",
        "queued": "pending",
    }
    return CommitCheck(
        name=name,
        state=states.get(word, "failed"),
        conclusion=word,
        url=f"{LINK}{name}",
        at=NOW - timedelta(minutes=minutes_ago),
        kind=kind,
    )


def gate(*names: str, required: bool = False) -> ChecksGate:
    return ChecksGate(name="ci", kind="checks", checks=names, required=required)


# (what, gate, checks on the commit, required by the branch, code, words in the reason)
CASES: list[tuple[str, ChecksGate, tuple[CommitCheck, ...], tuple[str, ...] | None, str, str]] = [
    ("green", gate("e2e"), (check("e2e", "success"),), None, "passed", "e2e (success) passed"),
    ("neutral passes", gate("e2e"), (check("e2e", "neutral"),), None, "passed", "passed"),
    ("skipped passes", gate("e2e"), (check("e2e", "skipped"),), None, "passed", "passed"),
    ("not reported", gate("e2e"), (), None, "checks-pending", "e2e (not reported yet)"),
    ("pending waits", gate("e2e"), (check("e2e", "pending"),), None, "checks-pending", "(pending)"),
    (
        "red blocks with its link",
        gate("e2e"),
        (check("e2e", "failure"),),
        None,
        "checks-failed",
        f"check e2e failure ({LINK}e2e) on aaaaaaaaaaaa",
    ),
    ("error fails", gate("e2e"), (check("e2e", "error"),), None, "checks-failed", "e2e error"),
    ("timed out fails", gate("e2e"), (check("e2e", "timed_out"),), None, "checks-failed", "e2e"),
    (
        "the latest of a name counts: re-run green",
        gate("e2e"),
        (check("e2e", "failure", 9), check("e2e", "success", 2)),
        None,
        "passed",
        "passed",
    ),
    (
        "the latest of a name counts: later red",
        gate("e2e"),
        (check("e2e", "success", 2), check("e2e", "failure", 1)),
        None,
        "checks-failed",
        "e2e failure",
    ),
    (
        "a check run and a status of one name must both pass",
        gate("e2e"),
        (check("e2e", "success", kind="check-run"), check("e2e", "failure")),
        None,
        "checks-failed",
        "e2e failure",
    ),
    (
        "a pattern needs every match green",
        gate("build/*"),
        (check("build/linux", "success"), check("build/mac", "in_progress"), check("x", "failure")),
        None,
        "checks-pending",
        "build/mac (in_progress)",
    ),
    (
        "a pattern with no match waits",
        gate("build/*"),
        (check("lint", "success"),),
        None,
        "checks-pending",
        "build/* (not reported yet)",
    ),
    (
        "failed wins over pending",
        gate("e2e", "lint"),
        (check("e2e", "queued"), check("lint", "failure")),
        None,
        "checks-failed",
        "lint failure",
    ),
    (
        "required: every required check",
        gate(required=True),
        (check("e2e", "success"), check("lint", "pending")),
        ("e2e", "lint"),
        "checks-pending",
        "lint (pending)",
    ),
    (
        "required and named together",
        gate("smoke", required=True),
        (check("e2e", "success"), check("smoke", "success")),
        ("e2e",),
        "passed",
        "e2e (success); smoke (success) passed",
    ),
    (
        "required with none required does not pass",
        gate(required=True),
        (check("e2e", "success"),),
        (),
        "unknown",
        "main requires no status checks",
    ),
    (
        "required on a forge without protection",
        gate(required=True),
        (check("e2e", "success"),),
        None,
        "unknown",
        "no branch protection",
    ),
]


@pytest.mark.parametrize(
    ("gate_", "checks", "required", "code", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_verdict(
    gate_: ChecksGate,
    checks: tuple[CommitCheck, ...],
    required: tuple[str, ...] | None,
    code: str,
    words: str,
) -> None:
    read = CommitChecks(sha=SHA, checks=checks, required=required)
    result = evaluate_checks(gate_, SHA, read)
    assert (result.code, result.passed) == (code, code == "passed"), result.reason
    assert words in result.reason
    assert result.kind == "checks"


def test_a_read_of_another_commit_proves_nothing() -> None:
    read = CommitChecks(sha="b" * 40, checks=(check("e2e", "success"),))
    result = evaluate_checks(gate("e2e"), SHA, read)
    assert (result.code, result.reason) == (
        "checks-pending",
        "the checks on aaaaaaaaaaaa have not been read yet",
    )


def test_an_unreadable_forge_is_unknown_and_says_why() -> None:
    result = evaluate_checks(gate("e2e"), SHA, None, error="GitHub answered 502")
    assert result.code == "unknown"
    assert "could not be read: GitHub answered 502" in result.reason


def test_passed_since_the_latest_check() -> None:
    read = CommitChecks(sha=SHA, checks=(check("e2e", "success", 7), check("lint", "success", 3)))
    result = evaluate_checks(gate("e2e", "lint"), SHA, read)
    assert result.since == NOW - timedelta(minutes=3)
    assert result.evidence == "e2e, lint green on aaaaaaaaaaaa"


# GitHub's check run status and conclusion: success, neutral and skipped pass (About
# protected branches: "Require status checks before merging"); any other conclusion fails.
RUNS = [
    ("queued", None, "pending"),
    ("in_progress", None, "pending"),
    ("waiting", None, "pending"),
    ("requested", None, "pending"),
    ("pending", None, "pending"),
    ("completed", "success", "passed"),
    ("completed", "neutral", "passed"),
    ("completed", "skipped", "passed"),
    ("completed", "failure", "failed"),
    ("completed", "cancelled", "failed"),
    ("completed", "timed_out", "failed"),
    ("completed", "action_required", "failed"),
    ("completed", "stale", "failed"),
    ("completed", "startup_failure", "failed"),
]


@pytest.mark.parametrize(("status", "conclusion", "state"), RUNS)
def test_github_check_run_words(status: str, conclusion: str | None, state: str) -> None:
    assert run_state(status, conclusion) == state
