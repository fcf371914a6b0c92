"""Replicas: three daemons at once on one config repo promote once, as one daemon would.

Each daemon has its own cache folder (its own clone), as separate processes would, and
runs its own loop in a thread. The test plays the world around them: the environments
deploy what main pins, and the code owner approves the prod request when it appears.
"""

from __future__ import annotations

import threading

from reconciler.cycle import CycleReport
from reconciler.errors import ReconcilerError
from reconciler.wiring import Wired
from tests.e2e.conftest import MakeWorld
from tests.e2e.world import (
    CYCLE_PAUSE,
    NEW,
    OWNER,
    World,
    cycle_until,
    internal_errors,
)

REPLICAS = 3


def promote_alone(world: World) -> None:
    """The same promotion by a single daemon, for reference."""
    wired = world.daemon()
    cycle_until(
        lambda: world.step(wired, approve=OWNER),
        lambda _: world.settled(NEW),
        "the single daemon's promotion",
    )


def test_three_daemons_at_once_promote_once_and_end_as_one_daemon_would(
    make_world: MakeWorld,
) -> None:
    reference = make_world()
    reference.ci_commit(NEW, "b7e2f90")
    reference.sync()
    promote_alone(reference)

    world = make_world()
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    replicas = {f"replica-{i}": world.daemon(f"replica-{i}") for i in range(REPLICAS)}
    stop = threading.Event()
    results: dict[str, list[CycleReport]] = {name: [] for name in replicas}
    refused: list[str] = []  # cycles a replica could not complete (it retries, as run does)
    crashed: list[BaseException] = []

    def loop(name: str, wired: Wired) -> None:
        while not stop.is_set():
            try:
                results[name].append(wired.runner.cycle())
            except ReconcilerError as error:
                refused.append(f"{name}: {error}")
            except BaseException as error:  # reported by the test's thread
                crashed.append(error)
                return
            stop.wait(CYCLE_PAUSE)

    threads = [threading.Thread(target=loop, args=item) for item in replicas.items()]
    for thread in threads:
        thread.start()
    try:
        cycle_until(
            lambda: (world.sync(), world.approve_waiting(OWNER)),
            lambda _: world.settled(NEW) or bool(crashed),
            "the promotion by three replicas",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert crashed == []
    assert all(results.values()), f"a replica never completed a cycle: {refused}"
    assert internal_errors([r for name in replicas for r in results[name]]) == []
    for env in ("staging", "prod"):
        assert len(world.records_for(env)) == 1, world.records_for(env)
        assert len(world.promotion_commits(env)) == 1, [c.title for c in world.main_log()]
    assert world.summary() == reference.summary()
