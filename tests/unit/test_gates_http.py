"""HTTP gates: which samples count for a candidate, and the consecutive-success streak."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.gates import Candidate, GateResult, Sample, evaluate
from reconciler.policy.model import HttpGate

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
T0 = datetime(2026, 5, 10, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def gate(successes: int = 3, failures_to_block: int = 1) -> HttpGate:
    return HttpGate(
        name="staging-health",
        kind="http",
        url="https://staging.{app}.example.internal/healthz",
        successes=successes,
        failures_to_block=failures_to_block,
    )


def candidate(live_since: datetime | None = T0, binding: str = "live") -> Candidate:
    assert binding in ("live", "overlay")
    return Candidate(
        app="order-gateway",
        source_env="staging",
        digest=NEW,
        live_since=live_since,
        binding="live" if binding == "live" else "overlay",
    )


def ok(seconds: int, digest: str | None = NEW) -> Sample:
    return Sample(
        gate="staging-health",
        app="order-gateway",
        env="staging",
        taken_at=at(seconds),
        ok=True,
        detail="status 200",
        live_digest=digest,
        status=200,
    )


def bad(seconds: int, digest: str | None = NEW) -> Sample:
    return Sample(
        gate="staging-health",
        app="order-gateway",
        env="staging",
        taken_at=at(seconds),
        ok=False,
        detail="status 503, expected 200",
        live_digest=digest,
        status=503,
    )


# (case, samples, successes, failures_to_block, passed, code, since in seconds after T0)
STREAKS = [
    ("no samples yet", [], 3, 1, False, "no-samples", 0),
    ("three successes pass", [ok(10), ok(20), ok(30)], 3, 1, True, "passed", 30),
    (
        "more successes keep the first pass time",
        [ok(10), ok(20), ok(30), ok(40)],
        3,
        1,
        True,
        "passed",
        30,
    ),
    ("two of three", [ok(10), ok(20)], 3, 1, False, "streak-short", 0),
    (
        "old digest during rollout does not count",
        [ok(10, OLD), ok(20, OLD), ok(30), ok(40)],
        3,
        1,
        False,
        "streak-short",
        0,
    ),
    (
        "old digest sample neither counts nor resets",
        [ok(10), bad(15, OLD), ok(20), ok(30)],
        3,
        1,
        True,
        "passed",
        30,
    ),
    (
        "unknown live digest does not count",
        [ok(10), ok(20, None), ok(30)],
        3,
        1,
        False,
        "streak-short",
        0,
    ),
    (
        "flapping endpoint resets the streak",
        [ok(10), ok(20), bad(30), ok(40), ok(50)],
        3,
        1,
        False,
        "streak-short",
        0,
    ),
    (
        "flapping after passing blocks from the failure",
        [ok(10), ok(20), ok(30), bad(40), ok(50)],
        3,
        1,
        False,
        "streak-short",
        40,
    ),
    ("failure last", [ok(10), ok(20), bad(30)], 3, 1, False, "failing", 0),
    (
        "passing again after a reset",
        [ok(10), ok(20), ok(30), bad(40), ok(50), ok(60), ok(70)],
        3,
        1,
        True,
        "passed",
        70,
    ),
    ("one success is enough when asked", [bad(10), ok(20)], 1, 1, True, "passed", 20),
    (
        "a tolerated failure neither resets nor counts",
        [ok(10), bad(20), ok(30), ok(40)],
        3,
        2,
        True,
        "passed",
        40,
    ),
    (
        "a tolerated failure does not count",
        [ok(10), bad(20), ok(30)],
        3,
        2,
        False,
        "streak-short",
        0,
    ),
    (
        "enough consecutive failures reset",
        [ok(10), ok(20), bad(30), bad(40), ok(50)],
        3,
        2,
        False,
        "streak-short",
        0,
    ),
    (
        "non-consecutive failures stay tolerated",
        [ok(10), bad(20), ok(30), bad(40), ok(50)],
        3,
        2,
        True,
        "passed",
        50,
    ),
    (
        "a tolerated failure after passing keeps it passing",
        [ok(10), ok(20), ok(30), bad(40)],
        3,
        2,
        True,
        "passed",
        30,
    ),
    (
        "samples after now are not counted",
        [ok(10), ok(20), ok(601)],
        3,
        1,
        False,
        "streak-short",
        0,
    ),
]


@pytest.mark.parametrize(
    ("samples", "successes", "failures_to_block", "passed", "code", "since"),
    [pytest.param(*case[1:], id=case[0]) for case in STREAKS],
)
def test_streak(
    samples: list[Sample],
    successes: int,
    failures_to_block: int,
    passed: bool,
    code: str,
    since: int,
) -> None:
    result = evaluate(gate(successes, failures_to_block), samples, candidate(), NOW)
    assert (result.passed, result.code, result.since) == (passed, code, at(since))
    assert result.kind == "http"
    assert result.gate == "staging-health"
    assert result.until is None


def test_order_of_samples_does_not_matter() -> None:
    samples = [ok(10), ok(20), bad(30), ok(40), ok(50), ok(60)]
    expected = evaluate(gate(), samples, candidate(), NOW)
    shuffled = samples[:]
    random.Random(7).shuffle(shuffled)
    assert evaluate(gate(), shuffled, candidate(), NOW) == expected
    assert expected.passed


def test_samples_from_before_the_candidate_went_live_again_do_not_count() -> None:
    # Live at T0, rolled back, live again at +100s: the earlier successes are a past stretch.
    samples = [ok(10), ok(20), ok(30), ok(110), ok(120)]
    result = evaluate(gate(), samples, candidate(live_since=at(100)), NOW)
    assert not result.passed
    assert result.evidence == "2 consecutive ok on sha256:bbbbbbbb, need 3"
    assert result.since == at(100)


def test_samples_of_other_gates_apps_and_envs_are_ignored() -> None:
    others = [
        Sample(
            gate="staging-smoke",
            app="order-gateway",
            env="staging",
            taken_at=at(10),
            ok=True,
            detail="status 200",
            live_digest=NEW,
        ),
        Sample(
            gate="staging-health",
            app="payments",
            env="staging",
            taken_at=at(20),
            ok=True,
            detail="status 200",
            live_digest=NEW,
        ),
        Sample(
            gate="staging-health",
            app="order-gateway",
            env="dev",
            taken_at=at(30),
            ok=True,
            detail="status 200",
            live_digest=NEW,
        ),
    ]
    result = evaluate(gate(1), others, candidate(), NOW)
    assert (result.passed, result.code) == (False, "no-samples")


def test_candidate_not_live_in_the_source_blocks() -> None:
    result = evaluate(gate(1), [ok(10)], candidate(live_since=None), NOW)
    assert result == GateResult(
        gate="staging-health",
        kind="http",
        passed=False,
        code="not-live",
        reason="sha256:bbbbbbbb is not live in staging; samples count only while it runs there",
        evidence="sha256:bbbbbbbb not live in staging",
    )


# (case, samples, failures_to_block, reason)
REASONS = [
    (
        "passed",
        [ok(10), ok(20), ok(30)],
        1,
        "3 consecutive successes on sha256:bbbbbbbb in staging (need 3); "
        "last at 2026-05-10T10:00:30Z: status 200",
    ),
    (
        "passed with a tolerated failure",
        [ok(10), bad(20), ok(30), ok(40)],
        2,
        "3 consecutive successes on sha256:bbbbbbbb in staging (need 3) (1 failure tolerated); "
        "last at 2026-05-10T10:00:40Z: status 200",
    ),
    (
        "no samples",
        [],
        1,
        "0 of 3 consecutive successes on sha256:bbbbbbbb in staging; no samples yet",
    ),
    (
        "failing",
        [ok(10), bad(20)],
        1,
        "0 of 3 consecutive successes on sha256:bbbbbbbb in staging; last sample at "
        "2026-05-10T10:00:20Z failed: status 503, expected 200",
    ),
    (
        "failing but tolerated so far",
        [ok(10), bad(20)],
        3,
        "1 of 3 consecutive successes on sha256:bbbbbbbb in staging; last sample at "
        "2026-05-10T10:00:20Z failed: status 503, expected 200 (1 of 3 consecutive failures "
        "that reset the streak)",
    ),
    (
        "recovering",
        [ok(10), bad(20), ok(30)],
        1,
        "1 of 3 consecutive successes on sha256:bbbbbbbb in staging; last sample at "
        "2026-05-10T10:00:30Z ok; last failure at 2026-05-10T10:00:20Z: status 503, expected 200",
    ),
]


@pytest.mark.parametrize(
    ("samples", "failures_to_block", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in REASONS],
)
def test_reason_says_why(samples: list[Sample], failures_to_block: int, reason: str) -> None:
    assert evaluate(gate(3, failures_to_block), samples, candidate(), NOW).reason == reason


def test_weak_binding_counts_from_the_overlay_commit_and_says_so() -> None:
    # No live source: live_digest is what the source overlay pinned, live_since its commit.
    samples = [ok(10, OLD), ok(20), ok(30), ok(40), ok(50)]
    result = evaluate(gate(), samples, candidate(live_since=at(25), binding="overlay"), NOW)
    assert result.passed
    assert result.weak_binding
    assert result.since == at(50)
    assert result.evidence == "3 consecutive ok on sha256:bbbbbbbb, need 3, weak binding"
    assert result.reason.endswith(
        "; weak binding: no live source for staging, samples count from the overlay commit "
        "at 2026-05-10T10:00:25Z"
    )


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(gate(), [], candidate(), datetime(2026, 5, 10, 10, 0))
