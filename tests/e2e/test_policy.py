"""An invalid promotions.toml on main: the last good policy stays in force, and it is said."""

from __future__ import annotations

import re

from reconciler import presenting
from reconciler.policy import POLICY_FILE
from tests.e2e.world import NEW, World, cycle_until, internal_errors

TYPO = 'promotions.toml:9:1: unknown key "poll_intervall" in [settings]'


def valid_gauge(exposition: bytes) -> str:
    """The value of reconciler_policy_valid in a /metrics exposition."""
    found = re.search(r"^reconciler_policy_valid (\S+)$", exposition.decode(), re.MULTILINE)
    assert found is not None, exposition.decode()
    return found[1]


def test_an_invalid_policy_keeps_the_last_good_one_running_and_says_so(world: World) -> None:
    wired = world.daemon()
    assert wired.reconciler.cycle().observation.policy_valid
    assert valid_gauge(wired.metrics.exposition()) == "1.0"

    world.push(
        POLICY_FILE,
        lambda data: data.replace(
            b'poll_interval = "1s"\n', b'poll_interval = "1s"\npoll_intervall = "2s"\n'
        ),
        "settings: a typo",
    )
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    results = cycle_until(
        lambda: world.step(wired),
        lambda _: world.running("staging") == NEW,
        "the staging promotion under the last good policy",
    )

    assert internal_errors(results) == []
    (staging,) = world.records_for("staging")
    assert staging.state == "merged"
    assert world.pinned("staging") == NEW
    for result in results:
        assert not result.observation.policy_valid
        assert "policy=INVALID(last-good-in-force)" in result.summary()
        assert any(TYPO in note for note in result.plan.notes), result.plan.notes
        assert f"note: policy on main is invalid: {TYPO}" in presenting.plan_text(result.plan)
    assert valid_gauge(wired.metrics.exposition()) == "0.0"

    # A daemon started now has no last good policy: it fails closed, writes nothing, says why.
    branches = world.branches()
    fresh = world.daemon("started-later")
    result = fresh.reconciler.cycle()
    assert result.observation.policy is None
    assert result.plan.actions == ()
    assert any(TYPO in note for note in result.plan.notes)
    assert valid_gauge(fresh.metrics.exposition()) == "0.0"
    assert world.branches() == branches
