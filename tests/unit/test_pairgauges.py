"""The gauge keeper gives every pair's gauges as a whole computation would, while making
again only the apps planned again and those whose figures grow with time."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reconciler.pairgauges import GaugeKeeper, pair_gauges
from reconciler.planning.replanner import Replanner
from reconciler.policy import Policy
from reconciler.snapshot import LiveState, Snapshot
from tests.unit.test_replanner import APPS, CASES, NOW, POLICY, Change, digest, repin, settled


def whole(policy: Policy, snap: Snapshot, replanner: Replanner, at: object) -> tuple[object, ...]:
    plan = replanner.plan(policy, snap, at)  # type: ignore[arg-type]
    pairs = [(env, app) for env in policy.ordered() for app in policy.apps_in(env.name)]
    made, _ = pair_gauges(policy, snap, plan, at, pairs)  # type: ignore[arg-type]
    return tuple(made[(app.name, env.name)] for env, app in pairs)


@pytest.mark.parametrize(("what", "change", "planned"), CASES, ids=[c[0] for c in CASES])
def test_a_change_makes_again_only_the_apps_it_touches(
    what: str, change: Change, planned: int
) -> None:
    replanner, keeper = Replanner(), GaugeKeeper()
    before = settled()
    at = NOW - timedelta(minutes=5)
    keeper.report(POLICY, before, replanner.plan(POLICY, before, at), at, replanner.take_changed())
    after = change(before)
    plan = replanner.plan(POLICY, after, NOW)
    made = keeper.report(POLICY, after, plan, NOW, replanner.take_changed())
    assert made == whole(POLICY, after, Replanner(), NOW), what
    # An app the policy no longer has is planned (its request closed) but has no gauges.
    assert keeper.apps_made == (0 if "no longer has" in what else planned), what


def test_drifting_apps_are_made_again_each_cycle_with_the_time() -> None:
    """A pair whose drift or lag grows with time is made again every cycle, alone."""
    replanner, keeper = Replanner(), GaugeKeeper()
    snap = repin(settled(), APPS[3], "dev", digest("new"))  # staging now trails dev
    snap = replace(snap, live={(APPS[7], "prod"): LiveState(digest("other"), NOW)})
    for minutes in (0, 1, 2):
        at = NOW + timedelta(minutes=minutes)
        plan = replanner.plan(POLICY, snap, at)
        made = keeper.report(POLICY, snap, plan, at, replanner.take_changed())
        assert made == whole(POLICY, snap, Replanner(), at)
    assert keeper.apps_made == 2  # the trailing app and the drifting one, nothing else
    lag = {(g.app, g.env): g.lag_seconds for g in made}
    assert lag[(APPS[3], "staging")] > 0
