"""A newer candidate replaces the waiting prod request, and its approvals count for nothing.

The approvals that must never count (a non-owner's, the author's, one on an older head) and
every other way around a code owner's review are the table of test_fail_closed.py, on both
forges. Here: an approval given on the old candidate's head, however long the daemon runs
past the moment it would have let it merge (the policy's merge_delay), does not merge the
new one; the test ends with the approval that does count, so it cannot pass vacuously.
"""

from __future__ import annotations

import threading
from datetime import datetime

from reconciler import promotions
from reconciler.actions import Merge
from reconciler.cycle import CycleReport
from reconciler.forge.port import Request
from reconciler.model import short
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
)


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


def prod_blocks(result: CycleReport) -> list[str]:
    """The reason codes of the prod promotion's blocks in a cycle's plan."""
    return [b.code for b in result.plan.blocked if b.env == "prod"]


def cycles_past(world: World, wired: Wired, moment: datetime, extra: int = 3) -> list[CycleReport]:
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


def assert_still_waiting(world: World, results: list[CycleReport], number: int) -> None:
    """No cycle merged or planned to merge the prod request; each said awaiting-review."""
    for result in results:
        assert prod_blocks(result) == ["awaiting-review"], result.plan.blocked
        assert not [a for a in result.plan.actions if isinstance(a, Merge)]
    assert internal_errors(results) == []
    assert world.pinned("prod") == world.original
    assert world.promotion_commits("prod") == []
    (record,) = world.records_for("prod")
    assert (record.number, record.state) == (number, "open")


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
    assert short(NEWER) in updated.title
    assert short(NEW) not in updated.title
    changed, digest, _ = world.head_change("prod")
    assert (changed, digest) == ([overlay("prod")], NEWER)
    assert updated.approvals() == {}
    assert updated.requested_reviewers == (TEAM,)
    (record,) = world.records_for("prod")
    said = [c.text for c in record.comments]
    assert any(f"{short(NEWER)} replaces {short(NEW)}" in text for text in said), said

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
