"""A daemon killed between any two of its effects, then restarted, promotes exactly once.

A dev -> staging -> prod promotion makes WRITES writes to the config repo (head branches,
request records, merges, live records). For each k, the daemon dies at its k-th write
(see crashing.py), then the same daemon (same cache folder) starts again and runs until
everything is promoted and seen live. Git and the forge are the only state, so the end
must be the same as without a crash: one request per environment, one promotion commit
per environment on main, head branches holding the one-file change.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta

import pytest

from reconciler import promotions, wiring
from reconciler.demo.flow import Timing
from reconciler.forge.github.app import InstallationTokens
from reconciler.forge.records import PROMOTION_REQUEST, REVIEWED_BY
from reconciler.settings import Settings
from reconciler.wiring import Wired
from tests.e2e.conftest import MakeWorld
from tests.e2e.crashing import Crash, CrashingRepo
from tests.e2e.world import FAST, NEW, OWNER, TEAM, World, cycle_until, internal_errors, overlay

# The writes of the whole promotion, in order: head staging, open #1 (creates the requests
# branch), merge #1 on main, record #1 merged, record #1 live, head prod, open #2, request
# reviews on #2, merge #2 on main, record #2 merged, record #2 live. The last case (k =
# WRITES + 1) is the run that completes without reaching k: it proves the count is right.
WRITES = 11
NO_WAIT = Timing(FAST.interval, soak=timedelta(0), merge_delay=timedelta(0))


def crashing_daemon(world: World, at: int) -> tuple[Wired, CrashingRepo]:
    """The daemon ``world.daemon()`` builds, over a config repo that dies at write ``at``."""
    made: list[CrashingRepo] = []

    def open_crashing(settings: Settings, app: InstallationTokens | None = None) -> CrashingRepo:
        made.append(CrashingRepo(wiring.open_repo(settings, app), at))
        return made[-1]

    wired = world.daemon("one", replace(wiring.REAL, open_repo=open_crashing))
    assert len(made) == 1, "wiring.build no longer opens the config repo with its factory"
    assert wired.runner.applier.repo is made[0]
    return wired, made[0]


@pytest.mark.parametrize("k", range(1, WRITES + 2))
def test_a_crash_at_any_write_then_a_restart_promotes_exactly_once(
    make_world: MakeWorld, k: int
) -> None:
    world = make_world(timing=NO_WAIT)  # the merge delay is not what this is about
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    doomed, repo = crashing_daemon(world, k)

    with pytest.raises(Crash) if k <= WRITES else contextlib.nullcontext():
        cycle_until(
            lambda: world.step(doomed, approve=OWNER),
            lambda _: world.settled(NEW),
            "the promotion before the crash",
        )
    assert len(repo.writes) == min(k, WRITES), repo.writes

    restarted = world.daemon("one")
    results = cycle_until(
        lambda: world.step(restarted, approve=OWNER),
        lambda _: world.settled(NEW),
        f"the promotion after a crash at write {k} ({repo.writes[-1]})",
    )
    assert internal_errors(results) == []

    for env, source in (("staging", "dev"), ("prod", "staging")):
        records = world.records_for(env)
        assert [r.state for r in records] == ["merged"], f"{env}: {records}"
        changed, digest, head = world.head_change(env)
        assert changed == [overlay(env)]
        assert digest == NEW
        assert head.trailer(promotions.IMAGE_DIGEST) == NEW
        assert head.trailer(promotions.PROMOTED_FROM) == source
        assert world.pinned(env) == NEW
        merges = world.promotion_commits(env)
        assert len(merges) == 1, [c.title for c in merges]
        assert merges[0].trailer(PROMOTION_REQUEST) == str(records[0].number)
        assert records[0].merged_commit == merges[0].id
    (merge,) = world.promotion_commits("prod")
    assert [t.value for t in merge.trailers if t.key == REVIEWED_BY] == [OWNER]
    (prod,) = world.records_for("prod")
    # Asked, unless a code owner reviewed before the (crashed) ask was made again: asking then
    # would only re-request a review already given.
    reviewed = any(r.reviewer == OWNER for r in prod.reviews)
    assert prod.requested_reviewers == (TEAM,) or reviewed, "the code owners were never asked"
