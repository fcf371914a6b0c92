"""Several daemons at once: three `reconciler run` PROCESSES on one repo and one forge.

The same world (faultworld.py: the GitHub simulator, git over smart HTTP, docker-registry,
sample environments) is promoted twice: once by one daemon process, for reference, then by
three processes started together, each with its own cache folder and listening port, all
nudged by webhooks on every tick so that they race for every step. The three must open one
pull per (app, env), leave no conflicting or extra commit on main, and end in the same
state as the single daemon: the same commits, pulls, reviews requested, overlays, registry
tags and audit records, compared in terms that do not depend on ports, times or commit ids.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.demo.flow import APP
from tests import figures
from tests.e2e import invariants
from tests.e2e.faultworld import ENVS, TAGS, FaultWorld, Images, overlay
from tests.e2e.test_faults import Tripwire
from tests.servers.docker_registry import RunningRegistry

REPLICAS = 3
SECONDS = 120.0  # generous: a promotion not done by then is lost
TICK = 0.25


def promote(world: FaultWorld, replicas: int) -> list[str]:
    """Run ``replicas`` daemon processes until the flow settles; the problems seen."""
    daemons = [world.daemon(f"daemon-{i}") for i in range(replicas)]
    for daemon in daemons:
        daemon.start()
    problems: list[str] = []
    deadline = time.monotonic() + SECONDS
    while not world.settled():
        if time.monotonic() > deadline:
            problems.append(f"not settled within {SECONDS:.0f}s")
            break
        for daemon in daemons:
            if daemon.exited() is not None:
                problems.append(f"{daemon.name} exited: {daemon.exited()}")
                daemon.start()
        world.sync()
        world.approve_prod()
        problems += invariants.open_duplicates(world)
        for daemon in daemons:
            daemon.nudge()
        threading.Event().wait(TICK)
    stopped = {daemon.name: daemon.stop() for daemon in daemons}
    problems += [f"{name} exited {code} on SIGTERM" for name, code in stopped.items() if code]
    problems += invariants.after_run(world, {d.name: d.output() for d in daemons})
    return problems


def summary(world: FaultWorld) -> dict[str, Any]:
    """The end state, in terms that do not depend on ports, times or commit ids."""
    git = world.sim.world.git

    def text(data: bytes | None) -> str:
        return (data or b"").decode().replace(world.image, "IMAGE")

    log = []
    for sha in invariants.first_parents(world):
        info = git.commit_info(sha)
        merged = git.commit_info(info.parents[-1]) if len(info.parents) > 1 else None
        log.append(
            (
                info.message.splitlines()[0],
                tuple(
                    line.replace(world.images.new, "NEW")
                    for line in merged.message.splitlines()
                    if line.startswith(("Promoted-From:", "Image-Digest:", "Promotion-Env:"))
                    or line == merged.message.splitlines()[0]
                )
                if merged
                else None,
            )
        )
    with world.sim.world.lock:
        pulls = [
            (
                p.number,
                p.head,
                p.state,
                p.merged,
                text(p.title.encode()),
                tuple(p.labels),
                tuple(sorted(p.requested_teams)),
                tuple(sorted({r.user for r in p.reviews if r.state == "APPROVED"})),
            )
            for p in sorted(world.sim.world.pulls.values(), key=lambda p: p.number)
        ]
        # GitHub has no compare-and-set for deployment statuses: two replicas that see the
        # same rollout live at once may both post "success". The audit means the same, so
        # repeats in a row are folded; a missing or out-of-order status still differs.
        deployments = sorted(
            (
                d.environment,
                tuple(state for state, _ in itertools.groupby(s.state for s in d.statuses)),
            )
            for d in world.sim.world.deployments.values()
        )
    tip = world.sim.tip("main") or ""
    return {
        "main": log,
        "pulls": pulls,
        "deployments": deployments,
        "overlays": {env: text(world.sim.read(tip, overlay(env))) for env in ENVS},
        "branches": sorted(name for name, _ in git.branches()),
        "tags": {tag: world.images.tagged(tag) == world.images.new for tag in TAGS.values()},
        "running": {env: world.services.running(env, APP).digest for env in ENVS},
    }


def test_three_daemon_processes_promote_once_and_end_as_one_daemon_would(
    tmp_path: Path,
    app_registry: tuple[RunningRegistry, Images],
    capsys: pytest.CaptureFixture[str],
) -> None:
    running, images = app_registry
    reference = FaultWorld(tmp_path / "one", images, running.port)
    try:
        alone = promote(reference, 1)
        expected = summary(reference)
    finally:
        reference.close()
    assert alone == [], alone

    world = FaultWorld(tmp_path / "three", images, running.port)
    try:
        problems = promote(world, REPLICAS)
        got = summary(world)
        cycles = sum(d.output().count('"event": "cycle"') for d in world.daemons)
    finally:
        world.close()
    pulls = len(got["pulls"])
    line = (
        f"daemons={REPLICAS} pulls={pulls} cycles={cycles} "
        f"same_as_one={got == expected} violations={len(problems)}"
    )
    with capsys.disabled():
        print(f"\n{line}")
    figures.line(line)  # also in the figures section: a pytest-xdist worker's prints are not shown
    assert problems == [], line + "\n" + "\n".join(problems)
    assert got == expected


@pytest.mark.parametrize("serve", [True, False], ids=["served", "dropped"])
def test_replicas_killed_at_once_between_push_and_pull_and_at_the_merge_promote_once(
    tmp_path: Path,
    app_registry: tuple[RunningRegistry, Images],
    capsys: pytest.CaptureFixture[str],
    serve: bool,
) -> None:
    """Three racing replicas, all SIGKILLed while one of them is creating a pull (its head
    branch pushed), and again while one is merging; restarted on their cache folders."""
    running, images = app_registry
    world = FaultWorld(tmp_path / "killed", images, running.port)
    try:
        daemons = [world.daemon(f"daemon-{i}") for i in range(REPLICAS)]
        lifecycle = threading.Lock()
        kills: list[str] = []

        def kill_all(window: str) -> None:
            with lifecycle:
                dead = [d.name for d in daemons if d.alive()]
                for daemon in daemons:
                    if daemon.alive():
                        daemon.kill()
                kills.append(f"{window}: {len(dead)}")

        wires = [
            Tripwire(
                "push->pull",
                lambda m, p: m == "POST" and p == "/repos/acme/config/pulls",
                lambda: kill_all("push->pull"),
                serve,
            ),
            Tripwire(
                "merge",
                lambda m, p: m == "PUT" and p.endswith("/merge"),
                lambda: kill_all("merge"),
                serve,
            ),
        ]

        def pause(method: str, path: str) -> bool:
            verdicts = [wire(method, path) for wire in wires]  # every wire sees every request
            return all(verdicts)

        world.sim.faults.pause = pause
        for daemon in daemons:
            daemon.start()
        problems: list[str] = []
        deadline = time.monotonic() + SECONDS
        while not world.settled():
            if time.monotonic() > deadline:
                problems.append(f"not settled within {SECONDS:.0f}s")
                break
            with lifecycle:
                for daemon in daemons:
                    if not daemon.alive():
                        if daemon.exited() not in (None, -9):
                            problems.append(f"{daemon.name} exited by itself: {daemon.exited()}")
                        daemon.start()
            world.sync()
            world.approve_prod()
            problems += invariants.open_duplicates(world)
            for daemon in daemons:
                daemon.nudge()
            threading.Event().wait(TICK)
        world.sim.faults.pause = None
        for daemon in daemons:
            daemon.stop()
        problems += invariants.after_run(world, {d.name: d.output() for d in world.daemons})
    finally:
        world.close()
    line = f"replicas={REPLICAS} killed={kills} violations={len(problems)}"
    with capsys.disabled():
        print(f"\n{line}")
    figures.line(line)  # also in the figures section: a pytest-xdist worker's prints are not shown
    assert [k.split(":")[0] for k in kills] == ["push->pull", "merge"]
    assert problems == [], "\n".join(problems)
