"""Events from a cycle's report, table by table: what each kind is derived from, its id
(durable facts only, so a restart or another replica derives the same), and which sink
takes it when (events, environments, apps, thresholds)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from reconciler import promotions
from reconciler.actions import Blocked, Merge, Plan, Propose, RecordLive
from reconciler.applying import ActionOutcome
from reconciler.forge.port import Request
from reconciler.gates.results import GateResult
from reconciler.notify.events import Event, derive, resolved, wanted
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import Policy, load_policy
from reconciler.policy.model import App, SlackSink
from reconciler.snapshot import LiveState, OverlayState, RequestState, Snapshot

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
REPO = "registry.example.com/shop"
POLICY = """
version = 1
[apps.shop]
image = "registry.example.com/shop"
[environments.staging]
overlay = "overlays/staging"
[environments.prod]
follows = "staging"
overlay = "overlays/prod"

[notify.all]
kind = "slack"
url_from = "env:URL"
"""


def policy() -> Policy:
    loaded = load_policy(POLICY.encode())
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy


def overlay(env: str, digest: str, at: datetime = NOW - timedelta(hours=2)) -> OverlayState:
    return OverlayState(
        path=f"overlays/{env}/kustomization.yaml", pin=ImagePin(REPO, "", digest), changed_at=at
    )


def request(number: int, digest: str, *, merged: bool = False) -> Request:
    marker = promotions.Marker("shop", "prod", "staging", digest, "c0ffee")
    return Request(
        number=number,
        head_branch="promote/prod/shop",
        head_commit="head",
        base_branch="main",
        title="t",
        body=f"text\n{marker.render()}\n",
        author="reconciler",
        labels=(),
        state="merged" if merged else "open",
        created_at=NOW - timedelta(hours=5),
        updated_at=NOW - timedelta(hours=5),
        merged_at=NOW - timedelta(minutes=1) if merged else None,
    )


def propose(number: int | None = None) -> Propose:
    marker = promotions.Marker("shop", "prod", "staging", NEW, "c0ffee")
    return Propose(
        app=App(name="shop", image=REPO),
        env="prod",
        source="staging",
        format="kustomize",
        path="overlays/prod/kustomization.yaml",
        pin=ImagePin(REPO, "", NEW),
        marker=marker,
        title="t",
        body="b",
        message="m",
        trailers=(),
        labels=(),
        reviewers=(),
        number=number,
    )


def snapshot(**changes: object) -> Snapshot:
    base = Snapshot(
        base_branch="main",
        base_commit="base",
        overlays={
            ("shop", "staging"): overlay("staging", NEW),
            ("shop", "prod"): overlay("prod", OLD),
        },
        live={("shop", "prod"): LiveState(OLD, NOW - timedelta(hours=3))},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def ids(events: Sequence[Event]) -> list[str]:
    return sorted(e.id for e in events)


GATE_FAILING = GateResult(
    gate="health",
    kind="http",
    passed=False,
    code="failing",
    reason="3 of the last 3 probes failed",
    evidence="failing",
    since=NOW - timedelta(minutes=5),
)
SOAKING = dataclasses.replace(GATE_FAILING, gate="soak", kind="soak", code="soaking")
CHECKS_FAILED = dataclasses.replace(GATE_FAILING, gate="ci", kind="checks", code="checks-failed")
CHECKS_PENDING = dataclasses.replace(CHECKS_FAILED, code="checks-pending")

CASES = [
    pytest.param(snapshot(), Plan(), (), [], id="nothing happened"),
    pytest.param(
        snapshot(requests={("shop", "prod"): RequestState(request(7, NEW))}),
        Plan(),
        (
            ActionOutcome(
                Merge(app="shop", env="prod", number=7, expected_head="h", message="m"),
                ok=True,
                result="merged",
                detail="",
            ),
        ),
        [f"merged:shop:prod:{NEW}"],
        id="the daemon merged: the digest from the request's marker",
    ),
    pytest.param(
        snapshot(),
        Plan(),
        (
            ActionOutcome(
                Merge(app="shop", env="prod", number=7, expected_head="h", message="m"),
                ok=False,
                result="error",
                detail="refused",
            ),
        ),
        [],
        id="a failed merge tells nothing",
    ),
    pytest.param(
        snapshot(requests={("shop", "prod"): RequestState(request(7, OLD))}),
        Plan(),
        (ActionOutcome(propose(number=7), ok=True, result="updated", detail=""),),
        [f"updated:shop:prod:{NEW}"],
        id="a request moved to a new digest",
    ),
    pytest.param(
        snapshot(requests={("shop", "prod"): RequestState(request(7, NEW))}),
        Plan(),
        (ActionOutcome(propose(number=7), ok=True, result="updated", detail=""),),
        [],
        id="a head rebuilt on a moved base, the same digest: nothing to tell",
    ),
    pytest.param(
        snapshot(),
        Plan(),
        (ActionOutcome(propose(), ok=True, result="opened", detail=""),),
        [f"opened:shop:prod:{NEW}"],
        id="a request opened",
    ),
    pytest.param(
        snapshot(awaiting_live={("shop", "prod"): request(7, NEW, merged=True)}),
        Plan(),
        (),
        [f"merged:shop:prod:{NEW}"],
        id="a person merged: the forge's merged request not yet live",
    ),
    pytest.param(
        snapshot(
            awaiting_live={("shop", "prod"): request(7, NEW, merged=True)},
            overlays={
                ("shop", "staging"): overlay("staging", NEW),
                ("shop", "prod"): overlay("prod", NEW),
            },
            live={("shop", "prod"): LiveState(NEW, NOW)},
        ),
        Plan(),
        (
            ActionOutcome(
                RecordLive(app="shop", env="prod", number=7, at=NOW),
                ok=True,
                result="live",
                detail="",
            ),
        ),
        [f"live:shop:prod:{NEW}", f"merged:shop:prod:{NEW}"],
        id="first seen live",
    ),
    pytest.param(
        snapshot(requests={("shop", "prod"): RequestState(request(7, NEW))}),
        Plan(
            blocked=(
                Blocked(
                    app="shop",
                    env="prod",
                    code="awaiting-review",
                    reason="a code owner must approve",
                    since=NOW - timedelta(hours=1),
                ),
            )
        ),
        (),
        [f"waiting-review:shop:prod:{NEW}"],
        id="awaiting review is waiting-review, not blocked",
    ),
    pytest.param(
        snapshot(),
        Plan(
            blocked=(
                Blocked(
                    app="shop",
                    env="prod",
                    code="gate:failing",
                    reason="health fails",
                    since=NOW - timedelta(hours=2),
                ),
                Blocked(app="shop", env="prod", code="hold", reason="held", since=None),
            ),
            gates=(("shop", "prod", GATE_FAILING), ("shop", "prod", SOAKING)),
        ),
        (),
        [f"blocked:shop:prod:gate:failing:{NEW}", f"gate-failing:shop:prod:health:{NEW}"],
        id="blocked keeps the candidate digest; a block of unknown start and a soak are not told",
    ),
    pytest.param(
        snapshot(),
        Plan(gates=(("shop", "prod", CHECKS_FAILED), ("shop", "prod", CHECKS_PENDING))),
        (),
        [f"gate-failing:shop:prod:ci:{NEW}"],
        id="CI's checks failed is a failing gate; pending is not",
    ),
    pytest.param(
        snapshot(live={("shop", "prod"): LiveState(NEW, NOW - timedelta(hours=1))}),
        Plan(),
        (),
        [f"drift:shop:prod:{OLD}:{NEW}"],
        id="drift: git pins one digest, another runs",
    ),
    pytest.param(
        snapshot(live={("shop", "prod"): LiveState(NEW, NOW, rolling=True)}),
        Plan(),
        (),
        [],
        id="a rollout is no drift",
    ),
]


@pytest.mark.parametrize(("snap", "plan", "outcomes", "expected"), CASES)
def test_events_are_derived_from_the_report(
    snap: Snapshot, plan: Plan, outcomes: tuple[ActionOutcome, ...], expected: list[str]
) -> None:
    assert ids(derive(policy(), snap, plan, outcomes, NOW)) == expected


def test_the_same_facts_later_give_the_same_ids() -> None:
    later = NOW + timedelta(hours=3)
    snap = snapshot(live={("shop", "prod"): LiveState(NEW, NOW - timedelta(hours=1))})
    assert ids(derive(policy(), snap, Plan(), (), later)) == ids(
        derive(policy(), snap, Plan(), (), NOW)
    )


def test_an_event_survives_its_json_round_trip() -> None:
    event = Event(
        kind="blocked",
        app="shop",
        env="prod",
        at=NOW,
        digest=NEW,
        source="staging",
        number=3,
        code="hold",
        reason="held",
    )
    assert Event.from_json(event.to_json()) == event


def sink(**keys: object) -> SlackSink:
    base = policy().notify["all"]
    assert isinstance(base, SlackSink)
    return dataclasses.replace(base, **keys)  # type: ignore[arg-type]


def event(kind: str, since: timedelta, *, env: str = "prod", app: str = "shop") -> Event:
    return Event(kind=kind, app=app, env=env, at=NOW - since, digest=NEW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("chosen", "told", "expected"),
    [
        (sink(), event("merged", timedelta(0)), True),
        (sink(events=("live",)), event("merged", timedelta(0)), False),
        (sink(environments=("staging",)), event("merged", timedelta(0)), False),
        (sink(apps=("other",)), event("merged", timedelta(0)), False),
        (sink(), event("blocked", timedelta(minutes=59)), False),
        (sink(), event("blocked", timedelta(hours=1)), True),
        (sink(blocked_after=timedelta(0)), event("blocked", timedelta(0)), True),
        (sink(), event("waiting-review", timedelta(hours=3)), False),
        (sink(review_after=timedelta(hours=2)), event("waiting-review", timedelta(hours=3)), True),
        (sink(), event("drift", timedelta(minutes=14)), False),
        (sink(), event("drift", timedelta(minutes=15)), True),
    ],
)
def test_a_sink_takes_its_events_after_its_thresholds(
    chosen: SlackSink, told: Event, expected: bool
) -> None:
    assert wanted(chosen, told, NOW) is expected


def test_a_drift_told_is_resolved_once_git_and_live_agree_again() -> None:
    drifted = Event(kind="drift", app="shop", env="prod", at=NOW, digest=OLD, live_digest=NEW)
    still = snapshot(live={("shop", "prod"): LiveState(NEW, NOW)})
    assert resolved([drifted], still, NOW) == ()
    agreed = snapshot(live={("shop", "prod"): LiveState(OLD, NOW)})
    (done,) = resolved([drifted], agreed, NOW)
    assert done.kind == "drift-resolved"
    assert done.id == f"drift-resolved:shop:prod:{OLD}:{NEW}"


def test_an_opened_request_is_told_with_the_number_the_forge_gave_it() -> None:
    opened = ActionOutcome(propose(), ok=True, result="opened", detail="", number=12)
    (event,) = derive(policy(), snapshot(), Plan(), (opened,), NOW)
    assert (event.kind, event.number) == ("opened", 12)
