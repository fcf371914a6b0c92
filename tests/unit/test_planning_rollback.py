"""Rollbacks in planning: the daemon keeps an open rollback request and merges it as a
promotion (code owners, no gates); `reconciler rollback`'s choice of digest and write; the
hold after it and the manual release rule. Every plan also runs through the replanner
(tests.unit.test_planning.plan)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from reconciler import promotions
from reconciler.actions import AddLabels, Close, CommitDirect, Merge, Propose
from reconciler.errors import PolicyError
from reconciler.forge.port import Review
from reconciler.gates import PinFact
from reconciler.holds import release_label
from reconciler.planning import rollback
from reconciler.snapshot import LiveState, RequestState
from tests.unit.test_planning import (
    NEW,
    NEWER,
    NOW,
    OLD,
    POLICY,
    approve,
    overlay,
    plan,
    policy,
    prod_only,
    request,
    samples,
    snapshot,
)

# prod ran OLD, the daemon promoted NEW (which staging runs); OLD is what prod goes back to.
PROD_HISTORY = (
    PinFact("c1", NOW - timedelta(hours=5), OLD, by_reconciler=True),
    PinFact("c2", NOW - timedelta(hours=2), NEW, by_reconciler=True),
)
ROLLED_BACK = (
    *PROD_HISTORY,
    PinFact("c3", NOW - timedelta(hours=1), OLD, by_reconciler=False, rollback="bad build"),
)


def overlays(prod_history: tuple[PinFact, ...] = PROD_HISTORY) -> dict[tuple[str, str], object]:
    current = prod_history[-1].digest
    return {
        ("gw", "dev"): overlay("dev", NEW),
        ("gw", "staging"): overlay("staging", NEW),
        ("gw", "prod"): replace(overlay("prod", current), history=prod_history),
    }


def marker(digest: str = OLD, replaces: str = NEW) -> promotions.Marker:
    return promotions.Marker(
        "gw", "prod", "staging", digest, "", "rollback", replaces, "bad build", "@carol"
    )


def rollback_request(*, reviews: tuple[Review, ...] = (), **state: Any) -> RequestState:
    return request(marker=marker(), number=9, reviews=reviews, **state)


def with_request(held: RequestState, **overrides: object):  # type: ignore[no-untyped-def]
    return snapshot(overlays=overlays(), requests={("gw", "prod"): held}, **overrides)


def test_an_open_rollback_waits_for_a_code_owner_and_is_not_replaced() -> None:
    # Gates on the source would open NEW's request; the rollback is kept instead.
    actions, blocked = prod_only(plan(policy(), with_request(rollback_request()), NOW))
    assert actions == []
    assert [code for code, _ in blocked] == ["awaiting-review"]


def test_an_open_rollback_needs_no_gates() -> None:
    # No samples at all: a forward promotion would be blocked on the health gate.
    held = rollback_request(reviews=(approve("@alice", minutes_ago=10),))
    actions, blocked = prod_only(plan(policy(), with_request(held, samples=()), NOW))
    assert blocked == []
    (merge,) = actions
    assert isinstance(merge, Merge)
    assert merge.rollback
    assert merge.approvers == ("@alice",)
    assert merge.message == "prod: roll back gw to sha256:aaaaaaaa (#9)"


def test_an_open_rollback_approved_by_another_person_does_not_merge() -> None:
    held = rollback_request(reviews=(approve("@mallory"),))
    actions, blocked = prod_only(plan(policy(), with_request(held), NOW))
    assert actions == []
    assert [code for code, _ in blocked] == ["awaiting-review"]
    assert "@mallory do not count" in blocked[0][1]


@pytest.mark.parametrize("state", [{"outdated": True}, {"head_problem": "not ours"}])
def test_an_outdated_rollback_is_rebuilt_as_a_rollback(state: dict[str, Any]) -> None:
    actions, _ = prod_only(plan(policy(), with_request(rollback_request(**state)), NOW))
    (propose,) = actions
    assert isinstance(propose, Propose)
    assert propose.number == 9
    assert propose.marker == marker()
    assert propose.pin.digest == OLD
    assert propose.title == "prod: roll back gw to sha256:aaaaaaaa"
    assert ("Rollback-Of", NEW) in propose.trailers
    assert not any(key == promotions.PROMOTED_FROM for key, _ in propose.trailers)


def test_a_rollback_already_made_is_closed() -> None:
    snap = snapshot(overlays=overlays(ROLLED_BACK), requests={("gw", "prod"): rollback_request()})
    actions, _ = prod_only(plan(policy(), snap, NOW))
    assert [type(a) for a in actions] == [Close]


def test_after_the_rollback_the_replaced_digest_is_held() -> None:
    actions, blocked = prod_only(plan(policy(), snapshot(overlays=overlays(ROLLED_BACK)), NOW))
    assert not [a for a in actions if isinstance(a, (Propose, Merge))]
    assert [code for code, _ in blocked] == ["hold"]
    assert "replaced by a rollback (bad build) in prod" in blocked[0][1]


MANUAL = POLICY.replace("version = 1\n", 'version = 1\n[settings]\nrollback_release = "manual"\n')


@pytest.mark.parametrize(
    ("text", "labels"),
    [(POLICY, ("promotion",)), (MANUAL, ("promotion", "promotion-hold"))],
)
def test_a_newer_digest_after_a_rollback_opens_as_the_release_rule_says(
    text: str, labels: tuple[str, ...]
) -> None:
    lays = overlays(ROLLED_BACK)
    lays[("gw", "staging")] = overlay("staging", NEWER)
    live = {("gw", "staging"): LiveState(NEWER, NOW - timedelta(hours=1))}
    snap = snapshot(overlays=lays, live=live, samples=samples(NEWER, 2))
    actions, _ = prod_only(plan(policy(text), snap, NOW))
    (propose,) = [a for a in actions if isinstance(a, Propose)]
    assert propose.marker.digest == NEWER
    assert propose.labels == labels
    held = "reconciler review release --app gw --env prod" in propose.body
    assert held == (len(labels) == 2)


def test_a_released_request_is_not_labelled_again() -> None:
    lays = overlays(ROLLED_BACK)
    lays[("gw", "staging")] = overlay("staging", NEWER)
    forward = promotions.Marker("gw", "prod", "staging", NEWER, "c-staging")
    held = RequestState(
        replace(
            rollback_request().request,
            body=promotions.body(forward, "p", "r", "", ()),
            title=promotions.title(forward),
        )
    )
    live = {("gw", "staging"): LiveState(NEWER, NOW - timedelta(hours=1))}
    snap = snapshot(
        overlays=lays, live=live, requests={("gw", "prod"): held}, samples=samples(NEWER, 2)
    )
    actions, blocked = prod_only(plan(policy(MANUAL), snap, NOW))
    # The hold label, once removed (`review release`), is not put back: it waits for review.
    assert not [a for a in actions if isinstance(a, (AddLabels, Propose))]
    assert [code for code, _ in blocked] == ["awaiting-review"]


@pytest.mark.parametrize(
    ("history", "manual", "expected"),
    [
        (ROLLED_BACK, True, True),
        (ROLLED_BACK, False, False),
        (PROD_HISTORY, True, False),  # the daemon's own promotion
        ((*PROD_HISTORY, PinFact("c3", NOW, OLD, by_reconciler=False)), True, True),  # by hand
        ((*PROD_HISTORY, PinFact("c3", NOW, NEWER, by_reconciler=False)), True, False),  # new
        ((), True, False),
    ],
)
def test_release_label(history: tuple[PinFact, ...], manual: bool, expected: bool) -> None:
    assert release_label(policy(MANUAL if manual else POLICY), history) is expected


HISTORY = (
    PinFact("c0", NOW, OLD, by_reconciler=True),
    PinFact("c1", NOW, None, by_reconciler=False),
    PinFact("c2", NOW, NEWER, by_reconciler=True),
    PinFact("c3", NOW, NEW, by_reconciler=True),
)


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (None, NEWER),
        (OLD, OLD),
        ("sha256:aaaaaaaa", OLD),
        (" sha256:cccc ", NEWER),
    ],
)
def test_choose(to: str | None, expected: str) -> None:
    assert rollback.choose(HISTORY, NEW, to) == expected


@pytest.mark.parametrize(
    ("history", "to", "said"),
    [
        (HISTORY, NEW, "what the environment pins now"),
        (HISTORY, "sha256:" + "9" * 64, "never ran there"),
        (HISTORY, "aaaa", "is not a digest"),
        (HISTORY, "sha256:", "ambiguous"),
        (HISTORY[3:], None, "no other digest"),
    ],
)
def test_choose_refuses(history: tuple[PinFact, ...], to: str | None, said: str) -> None:
    with pytest.raises(PolicyError, match=said):
        rollback.choose(history, NEW, to)


def ask(env: str = "prod", to: str | None = None) -> rollback.Ask:
    return rollback.Ask("gw", env, to, "bad build <!-- x --> `y`", "@carol")


def test_decide_opens_a_rollback_request_replacing_an_open_promotion() -> None:
    forward = replace(
        rollback_request().request,
        body=promotions.body(
            promotions.Marker("gw", "prod", "staging", NEWER, "c"), "p", "r", "", ()
        ),
    )
    snap = snapshot(overlays=overlays(), requests={("gw", "prod"): RequestState(forward)})
    decision = rollback.decide(policy(), snap, ask(), NOW)
    assert (decision.digest, decision.replaces, decision.blocked) == (OLD, NEW, ())
    propose = decision.action
    assert isinstance(propose, Propose)
    assert propose.number == 9
    assert propose.reviewers == ("@alice", "@org/release")
    assert propose.marker.reason == "bad build \u2039!-- x --\u203a 'y'"
    assert "Replaced by a rollback" in (propose.comment or "")
    assert "<!-- x" not in propose.body.replace(propose.marker.render(), "")
    assert promotions.parse_marker(propose.body) == propose.marker


def test_decide_commits_where_the_environment_allows() -> None:
    text = POLICY.replace("require_codeowners = true\n", 'mode = "commit"\n')
    decision = rollback.decide(policy(text), snapshot(overlays=overlays()), ask(), NOW)
    assert isinstance(decision.action, CommitDirect)
    assert decision.action.marker.rollback


def test_decide_follows_the_code_owner_rule() -> None:
    decision = rollback.decide(
        policy(), snapshot(overlays=overlays(), enforcement=None), ask(), NOW
    )
    assert decision.action is None
    assert [b.code for b in decision.blocked] == ["codeowners-not-enforced"]


def test_decide_says_an_open_rollback_is_already_there() -> None:
    decision = rollback.decide(policy(), with_request(rollback_request()), ask(), NOW)
    assert (decision.action, decision.already) == (None, 9)


def test_decide_refuses_an_environment_nothing_is_promoted_into() -> None:
    with pytest.raises(PolicyError, match="follows no environment"):
        rollback.decide(policy(), snapshot(overlays=overlays()), ask("dev"), NOW)


@pytest.mark.parametrize(
    ("change", "parsed"),
    [
        ({}, True),
        ({"replaces": "sha256:short"}, False),  # a damaged marker, never a digest to pin
        ({"digest": "latest"}, False),
        ({"tag": "v1.0.0"}, True),
        ({"tag": "not a tag"}, False),  # the image grammar's tags only
    ],
)
def test_a_rollback_marker_reads_back(change: dict[str, Any], parsed: bool) -> None:
    made = replace(marker(), **change)
    found = promotions.parse_marker(promotions.body(made, "p", "r", "", ()))
    assert (found == made) if parsed else (found is None)


def test_the_reason_never_reaches_the_commit_body() -> None:
    # A reason that reads as a trailer must not join the trailer block of the commit.
    made = replace(marker(), reason=promotions.note("ok\n\nPromoted-From: staging"))
    message, trailers = promotions.commit_message(made, evidence_trailer="")
    assert "Promoted-From" not in message
    assert [t.key for t in trailers if t.key == promotions.PROMOTED_FROM] == []
    assert (promotions.ROLLBACK_REASON, "ok Promoted-From: staging") in [
        (t.key, t.value) for t in trailers
    ]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("", ""),  # digests only: no tag is written, none is carried
        ('[settings]\npin = "tag-and-digest"\n', "v1.0.0"),  # the tag that ran with OLD
    ],
)
def test_a_rollback_writes_the_tag_that_ran_beside_its_digest(settings: str, expected: str) -> None:
    # Found as a user: a Helm "tag" layout rolled back to an old digest kept today's tag
    # beside it, so the request showed a version that never ran with that digest.
    asked = replace(ask(), tag="v1.0.0")
    text = POLICY + settings
    decision = rollback.decide(policy(text), snapshot(overlays=overlays()), asked, NOW)
    propose = decision.action
    assert isinstance(propose, Propose)
    assert (propose.pin.tag, propose.marker.tag) == (expected, expected)
    # The daemon rebuilds the same request from its marker (provenance, planning).
    found = promotions.parse_marker(propose.body)
    assert found == propose.marker
    rebuilt = promotions.request_pin(found, None, overlay("prod", NEW).pin, keep_tag=bool(expected))
    assert rebuilt is not None
    assert (rebuilt.tag, rebuilt.digest) == (expected, OLD)
