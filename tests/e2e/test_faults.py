"""No duplicate and no lost promotion, under random faults and SIGKILLs of a real daemon.

Each run builds a fresh world (faultworld.py: the GitHub simulator, git over smart HTTP,
docker-registry behind a fault proxy, sample environments), pins a new digest in dev, and
runs `reconciler run` as a process until dev -> staging -> prod is done: both pulls merged,
every environment running the digest, both registry tags moved, the audit recorded. On the
way, a seeded random schedule injects forge 5xx, forge timeouts, secondary rate limits
with Retry-After, declined pushes, pushes by another writer, registry 429s and timeouts,
and probe timeouts; and the daemon is SIGKILLed while one of its requests is held by the
server it went to, then restarted with the same cache folder. The held request is then
served (the daemon died after sending it) or dropped (it died before). Kills are placed:

- ``push->pull``: at the request that creates a pull (its head branch is already pushed);
- ``merge->tag``: at the registry PUT that moves an environment tag (after the merge);
- ``merge``: at the merge itself (the merge happens or not, the deployment record not yet);
- ``git push``: at a push of the daemon (git's receive-pack request to the server);
- ``write k``: at the daemon's k-th write to the forge (k seeded);
- ``anytime``: after a seeded random delay, wherever the daemon is (a fetch, a cycle, a wait).

Run r's first kill is placed by r modulo 5 (the first five windows), so the default run
covers each of them; a second kill, ``write k`` or ``anytime``, is added at random.

Some runs give the daemon the config repo as a ``file://`` URL instead of smart HTTP: run 4
and every fifth run after it, and from run 5 on the runs whose window is ``merge`` (both
windows work on either transport). The daemon then writes the objects and moves the ref
itself, and it runs under tests/e2e/killpoints.py, which SIGKILLs it from inside:

- ``object write``: at its k-th object write to the remote (runs 4, 9, ...; k seeded);
- ``ref lock``: in the lock window of its first ref update (runs 7, 12, ...): before git's
  lock is taken, with it held, with the new value queued, or just after the ref moved. A
  lock it dies holding is cleared by the restarted daemon once past its bound (10s).

After each run, invariants.py checks every promise (and the remote passes ``git fsck``);
the suite prints ``runs=N faults=N kills=N violations=0``.

``RECONCILER_FAULT_RUNS`` sets the number of runs (default 5); ``RECONCILER_FAULT_SEED``
the seed.
"""

from __future__ import annotations

import functools
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from tests import figures
from tests.e2e import invariants
from tests.e2e.faultworld import BOT, FORGE_TIMEOUT, FaultWorld, Images
from tests.e2e.killpoints import LOCK_STEPS
from tests.servers.docker_registry import RunningRegistry

RUNS = int(os.environ.get("RECONCILER_FAULT_RUNS", "5"))
SEED = int(os.environ.get("RECONCILER_FAULT_SEED", "1010"))
RUN_SECONDS = 120.0  # generous: a run that has not settled by then lost a promotion
TICK = 0.25  # how often the world around the daemon acts (deploy, review, inject)
WINDOWS = ("push->pull", "merge->tag", "merge", "git push", "write k")
FAULTS = (
    "forge-5xx",
    "forge-timeout",
    "secondary-limit",
    "push-declined",
    "other-writer",
    "registry-429",
    "registry-timeout",
    "probe-timeout",
)
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


class Tripwire:
    """Holds the first request ``matches`` accepts, kills the daemon there, then serves the
    request (the daemon died after sending it) or drops it (it died before)."""

    def __init__(
        self, name: str, matches: Callable[[str, str], bool], kill: Callable[[], None], serve: bool
    ) -> None:
        self.name = name
        self.matches = matches
        self.kill = kill
        self.serve = serve
        self.fired = False
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str) -> bool:
        with self._lock:
            if self.fired or not self.matches(method, path):
                return True
            self.fired = True
        self.kill()
        return self.serve


@dataclass
class RunReport:
    faults: Counter[str] = field(default_factory=Counter)
    kills: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def tripwires(
    run: int, rng: random.Random, world: FaultWorld, kill: Callable[[str], None]
) -> tuple[list[Tripwire], float | None]:
    """Where this run's daemon dies: the window of ``run``, maybe a second ``write k``; and
    when it dies anyway, in seconds from the start, if it does (``anytime``)."""
    wires: list[Tripwire] = []

    def kth_write(k: int) -> Callable[[str, str], bool]:
        seen = [0]

        def matches(method: str, path: str) -> bool:
            if method not in _WRITES or path.endswith("/reviews"):  # reviews are the owner's
                return False
            seen[0] += 1
            return seen[0] == k

        return matches

    tag_put = re.compile(r"/v2/.+/manifests/(staging|production)$")
    chosen = [WINDOWS[run % len(WINDOWS)]]
    anytime = None
    if rng.random() < 0.6:
        second = rng.choice(("write k", "anytime"))
        if second == "anytime":
            anytime = rng.uniform(1.0, 8.0)
        else:
            chosen.append(second)
    for window in chosen:
        serve = rng.random() < 0.5
        name = f"{window} ({'served' if serve else 'dropped'})"
        matches: Callable[[str, str], bool]
        if window == "push->pull":
            matches = lambda m, p: m == "POST" and p == "/repos/acme/config/pulls"  # noqa: E731
        elif window == "merge->tag":
            matches = lambda m, p: m == "PUT" and bool(tag_put.fullmatch(p))  # noqa: E731
        elif window == "merge":
            matches = lambda m, p: m == "PUT" and p.endswith("/merge")  # noqa: E731
        elif window == "git push":
            matches = lambda m, p: m == "POST" and p.endswith("/git-receive-pack")  # noqa: E731
        else:
            k = rng.randint(1, 12)
            name = f"write {k} ({'served' if serve else 'dropped'})"
            matches = kth_write(k)
        wires.append(Tripwire(name, matches, functools.partial(kill, name), serve))
    return wires, anytime


def transport(run: int) -> Literal["http", "file"]:
    """How run ``run``'s daemon reaches the config repo (see the module's docstring)."""
    window = run % len(WINDOWS)
    return "file" if window == 4 or (run >= len(WINDOWS) and window == 2) else "http"


def killpoint(run: int, rng: random.Random) -> str:
    """Where a daemon writing a ``file://`` remote dies from inside (killpoints.py's SPEC)."""
    # A process restarted after another kill counts again from 1: small numbers are reached.
    if run % len(WINDOWS) == 4:
        return f"object:{rng.randint(1, 6)}"
    return f"lock:{rng.choice(LOCK_STEPS)}:1"


def inject(kind: str, number: int, rng: random.Random, world: FaultWorld) -> None:
    """One fault of ``kind``, aimed at the daemon."""
    if kind == "forge-5xx":
        world.sim.faults.fail_next(rng.randint(1, 2), rng.choice((500, 502, 503)))
    elif kind == "forge-timeout":
        world.sim.faults.time_out(1, FORGE_TIMEOUT + 0.5)
    elif kind == "secondary-limit":
        world.sim.faults.secondary_limit(1, retry_after=1)
    elif kind == "push-declined":
        world.decline_next_push(number)
    elif kind == "other-writer":
        world.intended.append(world.other_writer(number))
    elif kind == "registry-429":
        with world.proxy.faults.lock:
            world.proxy.faults.too_many += 1
    elif kind == "registry-timeout":
        with world.proxy.faults.lock:
            world.proxy.faults.timeouts, world.proxy.faults.timeout_delay = 1, 1.5
    else:
        world.services.stall(rng.randint(1, 3), 0.6)


def one_run(root: Path, run: int, registry: RunningRegistry, images: Images) -> RunReport:
    """One seeded run of the whole flow; what was injected and what broke."""
    rng = random.Random(f"{SEED}-{run}")
    report = RunReport()
    started = time.monotonic()
    world = FaultWorld(root, images, registry.port, transport(run))
    try:
        daemon = world.daemon("daemon")
        faults: tuple[str, ...] = FAULTS
        if world.transport == "file":
            daemon.killpoint = (killpoint(run, rng), world.sim.git_path)
            faults = tuple(f for f in FAULTS if f != "push-declined")  # no hook runs there
        lifecycle = threading.Lock()  # the server threads kill, the test's thread restarts

        def kill(name: str) -> None:
            with lifecycle:
                if daemon.alive():
                    daemon.kill()
                    report.kills.append(name)

        wires, anytime = tripwires(run, rng, world, kill)
        world.sim.faults.target = BOT

        def pause(method: str, path: str) -> bool:
            verdicts = [wire(method, path) for wire in wires]  # each wire counts every request
            return all(verdicts)

        world.sim.faults.pause = world.proxy.faults.pause = world.git.hooks.pause = pause
        budget = rng.randint(4, 8)
        daemon.start()
        deadline = started + RUN_SECONDS
        while True:
            if anytime is not None and time.monotonic() - started > anytime:
                kill(f"anytime ({anytime:.1f}s)")
                anytime = None
            with lifecycle:
                if not daemon.alive():
                    inside = daemon.killed_itself()
                    if inside is not None:
                        where = "object write" if inside.startswith("object") else "ref lock"
                        report.kills.append(f"{where} ({inside})")
                    if daemon.exited() not in (None, -9):
                        report.problems.append(f"the daemon exited by itself: {daemon.exited()}")
                    daemon.start()
            world.sync()
            world.approve_prod()
            report.problems += invariants.open_duplicates(world)
            if budget > 0 and rng.random() < 0.3:
                kind = rng.choice(faults)
                inject(kind, sum(report.faults.values()), rng, world)
                report.faults[kind] += 1
                budget -= 1
            daemon.nudge()
            if world.settled():
                break
            if time.monotonic() > deadline:
                report.problems.append(f"not settled within {RUN_SECONDS:.0f}s")
                break
            threading.Event().wait(TICK)
        world.sim.faults.pause = world.proxy.faults.pause = world.git.hooks.pause = None
        report.problems += invariants.after_run(world, {d.name: d.output() for d in world.daemons})
        report.problems += invariants.whole_repository(world)
    finally:
        world.close()
    report.seconds = time.monotonic() - started
    return report


# Beyond the default timeout: RUNS runs of 15-30 s each (100 s in all, measured), each
# allowed RUN_SECONDS to settle before it counts as lost, plus a minute for its start and
# close; RECONCILER_FAULT_RUNS scales the bound with the work.
@pytest.mark.timeout(RUNS * (RUN_SECONDS + 60))
def test_random_faults_and_kills_never_duplicate_or_lose_a_promotion(
    tmp_path: Path,
    app_registry: tuple[RunningRegistry, Images],
    capsys: pytest.CaptureFixture[str],
) -> None:
    running, images = app_registry
    faults, kills, problems, windows = 0, 0, [], Counter[str]()
    for run in range(RUNS):
        report = one_run(tmp_path / f"run-{run}", run, running, images)
        faults += sum(report.faults.values())
        kills += len(report.kills)
        windows.update(k.split(" (")[0] for k in report.kills)  # "merge (served)" -> "merge"
        problems += [f"run {run} (seed {SEED}-{run}): {p}" for p in report.problems]
        with capsys.disabled():
            print(
                f"\nrun {run}: {report.seconds:.1f}s faults={dict(report.faults)} "
                f"kills={report.kills} problems={len(report.problems)}"
            )
    line = f"runs={RUNS} faults={faults} kills={kills} violations={len(problems)}"
    with capsys.disabled():
        print(f"\n{line}")
    figures.line(line)  # also in the figures section: a pytest-xdist worker's prints are not shown
    assert problems == [], line + "\n" + "\n".join(problems)
    if len(WINDOWS) <= RUNS:
        assert set(WINDOWS) - {"write k"} <= set(windows), windows
