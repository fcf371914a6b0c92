"""Soak and merge_delay: gates that wait, judged from durable facts and ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.gates import (
    Candidate,
    PinFact,
    Sample,
    evaluate,
    merge_delay,
    pinned_since,
)
from reconciler.policy.model import SoakGate

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
SOAK = SoakGate(name="soak", kind="soak", duration=timedelta(minutes=30))


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


def live(since: datetime | None, weak: bool = False) -> Candidate:
    return Candidate("order-gateway", "staging", NEW, since, "overlay" if weak else "live")


# (case, live_since, passed, code, since, until, evidence)
SOAKS = [
    (
        "long enough",
        ago(minutes=45),
        True,
        "passed",
        ago(minutes=15),
        None,
        "live 45m on sha256:bbbbbbbb, need 30m",
    ),
    (
        "exactly long enough",
        ago(minutes=30),
        True,
        "passed",
        NOW,
        None,
        "live 30m on sha256:bbbbbbbb, need 30m",
    ),
    (
        "one second short",
        ago(minutes=29, seconds=59),
        False,
        "soaking",
        ago(minutes=29, seconds=59),
        NOW + timedelta(seconds=1),
        "live 29m59s on sha256:bbbbbbbb, need 30m",
    ),
    (
        "just went live",
        NOW,
        False,
        "soaking",
        NOW,
        NOW + timedelta(minutes=30),
        "live 0s on sha256:bbbbbbbb, need 30m",
    ),
    (
        "live time in the future (clock skew)",
        NOW + timedelta(minutes=5),
        False,
        "soaking",
        NOW + timedelta(minutes=5),
        NOW + timedelta(minutes=35),
        "live 0s on sha256:bbbbbbbb, need 30m",
    ),
    ("not live", None, False, "not-live", None, None, "sha256:bbbbbbbb not live in staging"),
]


@pytest.mark.parametrize(
    ("live_since", "passed", "code", "since", "until", "evidence"),
    [pytest.param(*case[1:], id=case[0]) for case in SOAKS],
)
def test_soak(
    live_since: datetime | None,
    passed: bool,
    code: str,
    since: datetime | None,
    until: datetime | None,
    evidence: str,
) -> None:
    result = evaluate(SOAK, [], live(live_since), NOW)
    assert (result.passed, result.code, result.since, result.until) == (passed, code, since, until)
    assert result.evidence == evidence
    assert (result.gate, result.kind, result.weak_binding) == ("soak", "soak", False)


def test_soak_reasons() -> None:
    assert evaluate(SOAK, [], live(ago(minutes=12)), NOW).reason == (
        "sha256:bbbbbbbb live in staging for 12m (need 30m) since 2026-05-10T11:48:00Z; "
        "passes at 2026-05-10T12:18:00Z"
    )
    assert evaluate(SOAK, [], live(ago(hours=2, minutes=5), weak=True), NOW).reason == (
        "sha256:bbbbbbbb live in staging for 2h5m (need 30m) since the staging overlay commit "
        "at 2026-05-10T09:55:00Z; weak binding: no live source for staging"
    )


def test_weak_soak_says_so_in_the_evidence() -> None:
    result = evaluate(SOAK, [], live(ago(minutes=40), weak=True), NOW)
    assert result.passed
    assert result.weak_binding
    assert result.evidence == "live 40m on sha256:bbbbbbbb, need 30m, weak binding"


# The source overlay's history on the base branch, oldest first.
HISTORY = [
    PinFact("c1", ago(hours=3), OLD, by_reconciler=True),
    PinFact("c2", ago(minutes=45), NEW, by_reconciler=True),
    PinFact("c3", ago(minutes=20), NEW, by_reconciler=False),  # touched the overlay, same pin
]


def test_soak_after_a_restart_is_recomputed_from_durable_facts() -> None:
    # Before the restart the daemon had samples in memory; after it, only git history.
    samples = [
        Sample(
            gate="staging-health",
            app="order-gateway",
            env="staging",
            taken_at=ago(minutes=m),
            ok=True,
            detail="ok",
            live_digest=NEW,
        )
        for m in (40, 30, 20)
    ]
    before = evaluate(SOAK, samples, live(ago(minutes=45), weak=True), NOW)
    after = evaluate(SOAK, [], live(pinned_since(HISTORY, NEW), weak=True), NOW)
    assert after == before
    assert after.passed
    assert after.since == ago(minutes=15)


# (case, history, digest, expected)
PINNED = [
    ("pinned by the last change", HISTORY, NEW, ago(minutes=45)),
    ("not pinned now", HISTORY, OLD, None),
    ("never pinned", HISTORY, "sha256:" + "c" * 64, None),
    ("empty history", [], NEW, None),
    (
        "rollback and re-pin restarts the clock",
        [
            PinFact("c1", ago(hours=3), NEW, by_reconciler=True),
            PinFact("c2", ago(hours=2), OLD, by_reconciler=False),
            PinFact("c3", ago(minutes=10), NEW, by_reconciler=True),
        ],
        NEW,
        ago(minutes=10),
    ),
    (
        "first-parent order wins over commit times",
        [
            PinFact("c1", ago(minutes=5), OLD, by_reconciler=True),
            PinFact("c2", ago(hours=1), NEW, by_reconciler=True),
        ],
        NEW,
        ago(hours=1),
    ),
]


@pytest.mark.parametrize(
    ("history", "digest", "expected"), [pytest.param(*c[1:], id=c[0]) for c in PINNED]
)
def test_pinned_since(history: list[PinFact], digest: str, expected: datetime | None) -> None:
    assert pinned_since(history, digest) == expected


# (case, delay, approved_at, passed, code, since, until, evidence)
DELAYS = [
    ("not approved", timedelta(minutes=5), None, False, "not-approved", None, None, "not approved"),
    (
        "waiting",
        timedelta(minutes=5),
        ago(minutes=4, seconds=59),
        False,
        "merge-delay",
        ago(minutes=4, seconds=59),
        NOW + timedelta(seconds=1),
        "approved 4m59s ago, need 5m",
    ),
    (
        "waited exactly",
        timedelta(minutes=5),
        ago(minutes=5),
        True,
        "passed",
        NOW,
        None,
        "approved 5m ago, need 5m",
    ),
    (
        "waited longer",
        timedelta(minutes=5),
        ago(hours=1),
        True,
        "passed",
        ago(minutes=55),
        None,
        "approved 1h ago, need 5m",
    ),
    ("no delay", timedelta(0), NOW, True, "passed", NOW, None, "approved 0s ago, need 0s"),
]


@pytest.mark.parametrize(
    ("delay", "approved_at", "passed", "code", "since", "until", "evidence"),
    [pytest.param(*case[1:], id=case[0]) for case in DELAYS],
)
def test_merge_delay(
    delay: timedelta,
    approved_at: datetime | None,
    passed: bool,
    code: str,
    since: datetime | None,
    until: datetime | None,
    evidence: str,
) -> None:
    result = merge_delay(delay, approved_at, NOW)
    assert (result.passed, result.code, result.since, result.until) == (passed, code, since, until)
    assert result.evidence == evidence
    assert (result.gate, result.kind) == ("merge_delay", "merge-delay")


def test_merge_delay_reason() -> None:
    assert merge_delay(timedelta(minutes=5), ago(minutes=2), NOW).reason == (
        "approved at 2026-05-10T11:58:00Z; merge delay 5m, merges at 2026-05-10T12:03:00Z"
    )
