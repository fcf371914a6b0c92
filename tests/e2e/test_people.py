"""The people around a config repo, mid-flight: what they do to an open prod request.

Each row starts with the prod request open (staging promoted, the owner not yet asked to
approve anything), lets a person do one thing to the repo, and runs the daemon on. Whatever
they did, the daemon must not crash, duplicate or lose a request, or merge anything the row
does not allow; each row then says what the right end state is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from reconciler import promotions
from reconciler.actions import Merge
from reconciler.cycle import CycleReport
from reconciler.policy import POLICY_FILE
from tests.e2e.world import APP, NEW, OWNER, World, cycle_until, internal_errors, overlay

Check = Callable[[World], bool]


def policy_edit(pattern: str, replacement: str) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        text, count = re.subn(pattern, replacement, data.decode(), flags=re.DOTALL)
        assert count == 1, pattern
        return text.encode()

    return change


def delete_branch(world: World, before: str) -> None:
    world.set_branch(promotions.branch("prod", APP), None)


def force_main_back(world: World, before: str) -> None:
    world.set_branch("main", before)


def drop_prod(world: World, before: str) -> None:
    env = policy_edit(r"\[environments\.prod\].*?(?=\[gates\.health\])", "")
    live = policy_edit(r"\[live\.prod\].*", "")
    world.push(POLICY_FILE, lambda data: live(env(data)), "policy: no prod for now")


def rename_app(world: World, before: str) -> None:
    world.push(
        POLICY_FILE, policy_edit(r"\[apps\.order-gateway\]", "[apps.gateway]"), "rename the app"
    )


def follow_dev(world: World, before: str) -> None:
    change = policy_edit(r'(\[environments\.prod\]\n)follows = "staging"', r'\1follows = "dev"')
    world.push(POLICY_FILE, change, "prod follows dev")


def prod_request_rebuilt(world: World) -> bool:
    request = world.open_request("prod")
    return request is not None and world.tip(promotions.branch("prod", APP)) is not None


def nothing_open(world: World) -> bool:
    return world.open_request("prod") is None and world.open_request("staging") is None


@dataclass(frozen=True)
class Row:
    name: str
    act: Callable[[World, str], None]
    settled: Check  # the end state the daemon must reach
    merges: bool  # whether the owner's approval then promotes NEW into prod


ROWS = [
    Row("the promote branch is deleted", delete_branch, prod_request_rebuilt, True),
    Row("main is force-pushed back before the change", force_main_back, nothing_open, False),
    Row("prod is removed from the policy", drop_prod, nothing_open, False),
    Row("the app is renamed in the policy", rename_app, nothing_open, False),
    Row("prod follows dev instead of staging", follow_dev, prod_request_rebuilt, True),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_what_a_person_does_mid_flight(world: World, row: Row) -> None:
    before = world.tip("main")
    assert before is not None
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    results: list[CycleReport] = cycle_until(
        lambda: world.step(wired),
        lambda _: world.open_request("prod") is not None,
        "the prod request",
    )
    (first,) = world.records_for("prod")

    row.act(world, before)
    results += cycle_until(lambda: world.step(wired), lambda _: row.settled(world), row.name)
    results += [world.step(wired) for _ in range(3)]
    assert row.settled(world), row.name

    prod = world.records_for("prod")
    if row.settled is prod_request_rebuilt:
        # The same request, its head the daemon's own one-file edit again.
        assert [r.number for r in prod] == [first.number]
        changed, digest, _ = world.head_change("prod")
        assert (changed, digest) == ([overlay("prod")], NEW)
    else:
        assert [r.state for r in prod] == ["closed"]
        assert world.pinned("prod") == world.original
    if row.merges:
        request = world.open_request("prod")
        assert request is not None
        world.approve(request.number, OWNER)
        results += cycle_until(
            lambda: world.step(wired), lambda _: world.pinned("prod") == NEW, "the prod merge"
        )
        (merge,) = world.promotion_commits("prod")
        assert merge.trailer(promotions.IMAGE_DIGEST) == NEW
    else:
        assert not [
            a for r in results for a in r.plan.actions if isinstance(a, Merge) and a.env == "prod"
        ]
    assert internal_errors(results) == []
    print(f"people row={row.name!r} cycles={len(results)} prod-requests={len(prod)}")


def test_a_damaged_team_list_blocks_only_prod_and_says_which_file(world: World) -> None:
    """`.reconciler/teams.toml` broken on main: staging goes on, prod waits with the reason
    (cannot tell who is in the owning team), never "not a code owner"; fixed, it merges."""
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    good = world.read(".reconciler/teams.toml")
    assert good is not None
    world.push(".reconciler/teams.toml", lambda _: b"[teams\n", "a typo in the team list")
    results = cycle_until(
        lambda: world.step(wired),
        lambda _: world.open_request("prod") is not None,
        "the prod request",
    )
    request = world.open_request("prod")
    assert request is not None
    world.approve(request.number, OWNER)
    report = world.step(wired)

    blocked = {b.code: b.reason for b in report.plan.blocked if b.env == "prod"}
    assert ".reconciler/teams.toml on main: not valid TOML" in blocked["codeowners-team-unreadable"]
    assert world.pinned("staging") == NEW
    assert world.pinned("prod") == world.original

    world.push(".reconciler/teams.toml", lambda _: good, "the team list fixed")
    results += cycle_until(
        lambda: world.step(wired), lambda _: world.pinned("prod") == NEW, "the prod merge"
    )
    assert internal_errors([*results, report]) == []
