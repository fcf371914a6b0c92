"""An invalid promotions.toml on main: the last good policy stays in force, and it is said."""

from __future__ import annotations

import re
from collections.abc import Callable

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
    assert wired.runner.cycle().observation.policy_valid
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
    result = fresh.runner.cycle()
    assert result.observation.policy is None
    assert result.plan.actions == ()
    assert any(TYPO in note for note in result.plan.notes)
    assert valid_gauge(fresh.metrics.exposition()) == "0.0"
    assert world.branches() == branches


def _set_base_branch(name: str | None) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        lines = [line for line in data.split(b"\n") if not line.startswith(b"base_branch =")]
        text = b"\n".join(lines)
        if name is None:
            return text
        return text.replace(b"[settings]\n", f'[settings]\nbase_branch = "{name}"\n'.encode(), 1)

    return change


def test_a_base_branch_typo_does_not_wedge_the_daemon(world: World) -> None:
    """`base_branch = "mian"`: the daemon stays on main, says why, and reads the fix there.

    Before the fix the setting was adopted unchecked: every later cycle raised on the
    missing branch (a cycle that raises is a failed cycle) and the fix pushed to main was
    never read."""
    wired = world.daemon()
    assert wired.runner.cycle().observation.policy_valid
    world.push(POLICY_FILE, _set_base_branch("mian"), "settings: a typo in base_branch")
    for _ in range(2):
        result = world.step(wired)
        assert not result.observation.policy_valid
        assert result.observation.snapshot.base_branch == "main"
        assert any('no such branch; staying on "main"' in n for n in result.plan.notes)
    assert valid_gauge(wired.metrics.exposition()) == "0.0"

    world.push(POLICY_FILE, _set_base_branch(None), "settings: fix the typo")
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    results = cycle_until(
        lambda: world.step(wired),
        lambda _: world.running("staging") == NEW,
        "the staging promotion after the fix",
    )
    assert results[-1].observation.policy_valid
    assert internal_errors(results) == []


def test_a_base_branch_is_adopted_only_once_it_holds_a_policy_naming_it(world: World) -> None:
    wired = world.daemon()
    world.push(POLICY_FILE, _set_base_branch("release"), "settings: move to release")
    # "release" exists but its policy (main's old one) does not name it: not adopted.
    repo = world.repo()
    main = repo.tip("main")
    assert main is not None
    old = repo.commit_info(main).parents[0]
    world.set_branch("release", old)
    result = world.step(wired)
    assert result.observation.snapshot.base_branch == "main"
    assert any('"release", but its promotions.toml names "main"' in n for n in result.plan.notes)

    world.set_branch("release", main)  # now it holds the policy naming it
    result = world.step(wired)
    assert result.observation.policy_valid
    assert result.observation.snapshot.base_branch == "release"

    world.set_branch("release", None)  # and when it goes away, back to main, said so
    result = world.step(wired)
    assert result.observation.snapshot.base_branch == "main"
