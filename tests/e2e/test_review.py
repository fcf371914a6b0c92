"""Prod merges only on a code owner's approval of the request's current head.

Every approval that must not count is given, then the daemon runs cycles until well past
the moment that approval would have let it merge (the policy's merge_delay): the prod
request stays open, the plan says awaiting-review, main does not change. Each test ends
with the approval that does count, and the merge it brings, so none can pass vacuously.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

import pytest

from reconciler import promotions
from reconciler.cycle import CycleResult
from reconciler.errors import PolicyError
from reconciler.forge.ledger import Ledger
from reconciler.forge.local import REVIEWED_BY
from reconciler.forge.port import Request, Review
from reconciler.forge.records import TEAMS_PATH, RequestRecord
from reconciler.gitrepo.pygit2_repo import Pygit2ConfigRepo
from reconciler.planning import Merge
from reconciler.wiring import Wired
from tests.e2e.world import (
    CYCLE_PAUSE,
    NEW,
    NEWER,
    OWNER,
    TEAM,
    World,
    cycle_until,
    internal_errors,
    overlay,
    person,
)

OUTSIDER = "@mallory"
AUTHOR = "@reconciler"  # who the daemon opens requests as


def prod_request(world: World, wired: Wired) -> Request:
    """Cycle until the prod request is open; returns it."""
    cycle_until(
        lambda: world.step(wired),
        lambda _: world.open_request("prod") is not None,
        "the prod request",
    )
    request = world.open_request("prod")
    assert request is not None
    return request


def prod_blocks(result: CycleResult) -> list[str]:
    """The reason codes of the prod promotion's blocks in a cycle's plan."""
    return [b.code for b in result.plan.blocked if b.env == "prod"]


def cycles_past(world: World, wired: Wired, moment: datetime, extra: int = 3) -> list[CycleResult]:
    """Cycles until merge_delay after ``moment`` has passed, and ``extra`` more.

    Long enough that an approval given at ``moment``, had it counted, would have merged.
    """
    ready = moment + world.timing.merge_delay
    results = cycle_until(
        lambda: world.step(wired),
        lambda r: r.started is not None and r.started > ready,
        "a cycle after the merge delay",
    )
    for _ in range(extra):
        threading.Event().wait(CYCLE_PAUSE)
        results.append(world.step(wired))
    return results


def assert_still_waiting(world: World, results: list[CycleResult], number: int) -> None:
    """No cycle merged or planned to merge the prod request; each said awaiting-review."""
    for result in results:
        assert prod_blocks(result) == ["awaiting-review"], result.plan.blocked
        assert not [a for a in result.plan.actions if isinstance(a, Merge)]
    assert internal_errors(results) == []
    assert world.pinned("prod") == world.original
    assert world.promotion_commits("prod") == []
    (record,) = world.records_for("prod")
    assert (record.number, record.state) == (number, "open")


def hand_written_review(world: World, number: int, review: Review) -> RequestRecord:
    """Add ``review`` to request ``number``'s record by editing the requests branch directly."""
    repo = Pygit2ConfigRepo.open(str(world.remote), world.root / "hand-editor")
    ledger = Ledger(repo, "main", lambda: person("someone"))

    def add(record: RequestRecord) -> RequestRecord:
        return replace(record, reviews=(*record.reviews, review))

    return ledger.change(number, add, f"review #{number} edited by hand")


def test_only_an_owner_approving_the_current_head_merges_a_prod_request(world: World) -> None:
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    request = prod_request(world, wired)
    number = request.number
    assert request.requested_reviewers == (TEAM,)

    # 1. Someone who is not a code owner approves.
    given = world.approve(number, OUTSIDER).reviews[-1]
    results = cycles_past(world, wired, given.at)
    assert_still_waiting(world, results, number)
    assert f"approvals from {OUTSIDER} do not count: not code owners" in (
        next(b.reason for b in results[-1].plan.blocked if b.env == "prod")
    )

    # 2. The request's author approves: refused outright, and a hand-written approval does
    #    not count either, even once the daemon's own handle is listed in the owning team.
    with pytest.raises(PolicyError, match="cannot review it themselves"):
        world.approve(number, AUTHOR)
    world.push(
        TEAMS_PATH,
        lambda _: f'[teams]\n"{TEAM}" = ["{OWNER}", "{AUTHOR}"]\n'.encode(),
        "the bot joins the release managers",
    )
    head = world.open_request("prod")
    assert head is not None
    forged = Review(AUTHOR, "approved", head.head_commit, world.clock())
    assert forged in hand_written_review(world, number, forged).reviews
    assert_still_waiting(world, cycles_past(world, wired, forged.at), number)

    # 3. A code owner approves, then main changes the prod overlay: the request is rebuilt
    #    on the new base, and the approval of the old head no longer counts.
    old_head = world.approve(number, OWNER).head_commit
    world.push(
        overlay("prod"),
        lambda data: data.replace(b"value: 10", b"value: 12"),
        "prod: 12 replicas",
    )
    results = cycles_past(world, wired, world.clock())
    rebuilt = world.open_request("prod")
    assert rebuilt is not None
    assert rebuilt.number == number
    assert rebuilt.head_commit != old_head
    assert rebuilt.approvals() == {}
    assert prod_blocks(results[0]) == []  # the cycle that rebuilt the request
    assert_still_waiting(world, results[1:], number)
    (record,) = world.records_for("prod")
    assert any("approvals on the old head no longer count" in c.text for c in record.comments)

    # 4. The owner approves the current head: it merges, with only the owner counted.
    world.approve(number, OWNER)
    cycle_until(
        lambda: world.step(wired),
        lambda _: world.running("prod") == NEW,
        "the prod merge",
    )
    (merge,) = world.promotion_commits("prod")
    assert [t.value for t in merge.trailers if t.key == REVIEWED_BY] == [OWNER]
    prod = world.read(overlay("prod"))
    assert prod is not None
    assert b"value: 12" in prod
    assert world.pinned("prod") == NEW


def test_a_newer_digest_replaces_the_waiting_prod_request_and_resets_its_approvals(
    world: World,
) -> None:
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    first = prod_request(world, wired)

    # CI builds a newer digest; it reaches staging's overlay on main (not yet deployed).
    world.ci_commit(NEWER, "c4d1a0e")
    world.sync()
    cycle_until(
        lambda: world.step(wired, sync=False),
        lambda _: world.pinned("staging") == NEWER,
        "the newer digest's staging merge",
    )
    # The owner approves the prod request while it still proposes the older digest.
    approval = world.approve(first.number, OWNER)
    assert OWNER in approval.approvals()

    results = cycle_until(
        lambda: world.step(wired),
        lambda _: promotions.parse_marker(_body(world)) != promotions.parse_marker(first.body),
        "the prod request's update",
    )
    assert not [a for r in results for a in r.plan.actions if isinstance(a, Merge)]
    updated = world.open_request("prod")
    assert updated is not None
    assert updated.number == first.number
    marker = promotions.parse_marker(updated.body)
    assert marker is not None
    assert marker.digest == NEWER
    assert promotions.short(NEWER) in updated.title
    assert promotions.short(NEW) not in updated.title
    changed, digest, _ = world.head_change("prod")
    assert (changed, digest) == ([overlay("prod")], NEWER)
    assert updated.approvals() == {}
    assert updated.requested_reviewers == (TEAM,)
    (record,) = world.records_for("prod")
    said = [c.text for c in record.comments]
    assert any(
        f"{promotions.short(NEWER)} replaces {promotions.short(NEW)}" in text for text in said
    ), said

    # The approval given on the old head does not merge the new one, however long.
    assert_still_waiting(world, cycles_past(world, wired, approval.updated_at), first.number)

    world.approve(first.number, OWNER)
    cycle_until(
        lambda: world.step(wired),
        lambda _: world.running("prod") == NEWER,
        "the newer digest's prod merge",
    )
    assert world.pinned("prod") == NEWER
    assert world.promotion_commits("prod", NEW) == []
    (merge,) = world.promotion_commits("prod")
    assert merge.trailer(promotions.IMAGE_DIGEST) == NEWER
    assert [r.number for r in world.records_for("prod")] == [first.number]


def _body(world: World) -> str:
    request = world.open_request("prod")
    return request.body if request else ""
