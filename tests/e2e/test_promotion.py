"""A whole promotion, dev -> staging -> prod, by one daemon; then it has nothing left to do."""

from __future__ import annotations

from reconciler import promotions
from reconciler.forge.records import PROMOTION_REQUEST, REVIEWED_BY
from tests.e2e.world import (
    ENVS,
    NEW,
    OWNER,
    TEAM,
    World,
    cycle_until,
    internal_errors,
    overlay,
)


def test_a_full_promotion_then_the_next_cycles_plan_nothing_and_write_nothing(
    world: World,
) -> None:
    seeded = {env: world.read(overlay(env)) for env in ENVS}
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()

    results = cycle_until(
        lambda: world.step(wired, approve=OWNER),
        lambda _: world.settled(NEW),
        "the promotion to prod",
    )

    assert internal_errors(results) == []
    assert {env: world.running(env) for env in ENVS} == dict.fromkeys(ENVS, NEW)
    staging, prod = world.records_for("staging"), world.records_for("prod")
    assert [(r.state, r.requested_reviewers) for r in staging] == [("merged", ())]
    assert [(r.state, r.requested_reviewers) for r in prod] == [("merged", (TEAM,))]
    for env, source, record in (("staging", "dev", staging[0]), ("prod", "staging", prod[0])):
        assert world.pinned(env) == NEW
        (merge,) = world.promotion_commits(env)
        assert merge.id == record.merged_commit
        assert merge.trailer(PROMOTION_REQUEST) == str(record.number)
        assert merge.trailer(promotions.PROMOTED_FROM) == source
        assert merge.trailer(promotions.IMAGE_DIGEST) == NEW
        # Minimal diff: only the pin's lines changed (the digest moved, the old tag went).
        before, after = seeded[env], world.read(overlay(env))
        assert before is not None
        assert after is not None
        kept = [line for line in before.splitlines() if b"newTag:" not in line]
        kept = [line for line in kept if b"digest:" not in line]
        assert [line for line in after.splitlines() if b"digest:" not in line] == kept
    (prod_merge,) = world.promotion_commits("prod")
    assert [t.value for t in prod_merge.trailers if t.key == REVIEWED_BY] == [OWNER]

    branches, tip = world.branches(), world.tip()
    for daemon in (wired, world.daemon("restarted")):
        result = daemon.runner.cycle()
        assert result.plan.actions == ()
        assert result.plan.blocked == ()
        assert result.outcomes == ()
    assert world.tip() == tip
    assert world.branches() == branches
