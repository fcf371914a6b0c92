"""Holds: policy and label holds, and the rule that keeps a person's rollback in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.gates import PinFact
from reconciler.holds import Hold, ManualRollback, holds, manual_rollback, rollback_hold
from reconciler.policy.model import App, Environment, Policy, Settings

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64
T0 = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)


def policy(app_hold: bool = False, env_hold: bool = False, label: str = "promotion-hold") -> Policy:
    return Policy(
        version=1,
        settings=Settings(hold_label=label),
        apps={
            "order-gateway": App(name="order-gateway", image="ecr.example/og", hold=app_hold),
            "payments": App(name="payments", image="ecr.example/payments"),
        },
        environments={
            "staging": Environment(name="staging", overlay="overlays/staging"),
            "prod": Environment(
                name="prod", overlay="overlays/prod", follows="staging", hold=env_hold
            ),
        },
    )


APP_HOLD = Hold("app", "hold = true on app order-gateway in promotions.toml")
ENV_HOLD = Hold("environment", "hold = true on environment prod in promotions.toml")
LABEL_HOLD = Hold("label", 'the promotion PR has the "promotion-hold" label; remove it to resume')

# (case, policy, app, env, PR labels, expected holds)
HOLDS = [
    ("none", policy(), "order-gateway", "prod", ["promotion"], ()),
    ("app hold, any env", policy(app_hold=True), "order-gateway", "staging", [], (APP_HOLD,)),
    ("app hold, other app free", policy(app_hold=True), "payments", "prod", [], ()),
    (
        "env hold, any app",
        policy(env_hold=True),
        "payments",
        "prod",
        [],
        (Hold("environment", "hold = true on environment prod in promotions.toml"),),
    ),
    ("env hold, other env free", policy(env_hold=True), "payments", "staging", [], ()),
    (
        "label on the PR",
        policy(),
        "order-gateway",
        "prod",
        ["promotion", "promotion-hold"],
        (LABEL_HOLD,),
    ),
    (
        "a custom hold label",
        policy(label="freeze-me"),
        "order-gateway",
        "prod",
        ["promotion-hold", "freeze-me"],
        (Hold("label", 'the promotion PR has the "freeze-me" label; remove it to resume'),),
    ),
    (
        "all three",
        policy(app_hold=True, env_hold=True),
        "order-gateway",
        "prod",
        ["promotion-hold"],
        (APP_HOLD, ENV_HOLD, LABEL_HOLD),
    ),
    ("unknown names hold nothing", policy(), "nope", "nowhere", [], ()),
]


@pytest.mark.parametrize(
    ("pol", "app", "env", "labels", "expected"), [pytest.param(*c[1:], id=c[0]) for c in HOLDS]
)
def test_holds(
    pol: Policy, app: str, env: str, labels: list[str], expected: tuple[Hold, ...]
) -> None:
    assert holds(pol, app, env, labels) == expected


def test_label_hold_carries_when_it_was_put_on() -> None:
    found = holds(policy(), "order-gateway", "prod", {"promotion-hold"}, labeled_at=T0)
    assert [h.since for h in found] == [T0]


def fact(commit: str, minutes: int, digest: str | None, by_reconciler: bool) -> PinFact:
    return PinFact(commit, T0 + timedelta(minutes=minutes), digest, by_reconciler)


# (case, target overlay history oldest first, candidate, expected)
ROLLBACKS = [
    ("never pinned", [fact("c1", 0, A, True)], B, None),
    ("empty history", [], B, None),
    ("pinned now", [fact("c1", 0, A, True), fact("c2", 10, B, True)], B, None),
    (
        "promoted then rolled back by hand",
        [fact("c1", 0, A, True), fact("c2", 10, B, True), fact("c3", 20, A, False)],
        B,
        ManualRollback(B, A, "c3", T0 + timedelta(minutes=20)),
    ),
    (
        "pinned by hand then rolled back by hand",
        [fact("c1", 0, A, False), fact("c2", 10, B, False), fact("c3", 20, A, False)],
        B,
        ManualRollback(B, A, "c3", T0 + timedelta(minutes=20)),
    ),
    (
        "moved on by the reconciler: not a rollback",
        [fact("c1", 0, B, True), fact("c2", 10, C, True)],
        B,
        None,
    ),
    (
        "the rollback still holds after unrelated commits",
        [fact("c1", 0, B, True), fact("c2", 10, A, False), fact("c3", 20, A, False)],
        B,
        ManualRollback(B, A, "c2", T0 + timedelta(minutes=10)),
    ),
    (
        "a newer candidate after a rollback is free",
        [fact("c1", 0, B, True), fact("c2", 10, A, False)],
        C,
        None,
    ),
    (
        "the last departure decides: reconciler after an old rollback",
        [
            fact("c1", 0, B, True),
            fact("c2", 10, A, False),
            fact("c3", 20, B, False),
            fact("c4", 30, C, True),
        ],
        B,
        None,
    ),
    (
        "the last departure decides: person after a reconciler move",
        [
            fact("c1", 0, B, True),
            fact("c2", 10, C, True),
            fact("c3", 20, B, True),
            fact("c4", 30, A, False),
        ],
        B,
        ManualRollback(B, A, "c4", T0 + timedelta(minutes=30)),
    ),
    (
        "digest removed by hand",
        [fact("c1", 0, B, True), fact("c2", 10, None, False)],
        B,
        ManualRollback(B, None, "c2", T0 + timedelta(minutes=10)),
    ),
    (
        "re-pinned by hand after the rollback: nothing to promote",
        [fact("c1", 0, B, True), fact("c2", 10, A, False), fact("c3", 20, B, False)],
        B,
        None,
    ),
]


@pytest.mark.parametrize(
    ("history", "candidate", "expected"), [pytest.param(*c[1:], id=c[0]) for c in ROLLBACKS]
)
def test_manual_rollback(
    history: list[PinFact], candidate: str, expected: ManualRollback | None
) -> None:
    assert manual_rollback(history, candidate) == expected


def test_rollback_hold_says_what_happened() -> None:
    history = [fact("0123456789abcdef", 0, B, True), fact("fedcba9876543210", 10, A, False)]
    assert rollback_hold(history, B, "prod") == Hold(
        "manual-rollback",
        "sha256:bbbbbbbb was replaced by hand in prod: commit fedcba987654 at "
        "2026-05-10T09:10:00Z pinned sha256:aaaaaaaa instead; it is not promoted there again "
        "until a new candidate appears",
        T0 + timedelta(minutes=10),
    )
    assert rollback_hold(history, C, "prod") is None
