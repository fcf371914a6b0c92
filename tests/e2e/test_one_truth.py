"""`status`, `plan` and `once` tell what the daemon would: durable facts, never a reset clock.

Staging's live source here tells no start time (no ``since_field``), so "live since" is a
sighting: each process sees the digest for the first time. The soak on prod must still
count from the first sighting the daemon recorded, whichever process asks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.demo.flow import Timing
from tests.e2e.conftest import MakeWorld
from tests.e2e.test_cli import Cli
from tests.e2e.world import NEW, World, cycle_until
from tests.integration.runproc import DaemonProcess

SOAK = timedelta(seconds=3)
SLOW_SOAK = Timing(
    interval=timedelta(milliseconds=100), soak=SOAK, merge_delay=timedelta(seconds=1)
)


def _sighted_staging(files: dict[str, bytes]) -> dict[str, bytes]:
    """Staging's live source without ``since_field``: it says what runs, not since when."""
    policy = files["promotions.toml"].decode()
    head, _, rest = policy.partition("[live.staging]")
    block, _, tail = rest.partition("\n\n")
    block = "\n".join(line for line in block.splitlines() if "since_field" not in line)
    files["promotions.toml"] = f"{head}[live.staging]{block}\n\n{tail}".encode()
    return files


@pytest.fixture
def sighted(make_world: MakeWorld) -> World:
    return make_world(timing=SLOW_SOAK, edit=_sighted_staging)


def _soak(view: dict[str, Any]) -> dict[str, Any]:
    (prod,) = (r for r in view["rows"] if r["env"] == "prod")
    (soak,) = (g for g in prod["gates"] if g["gate"] == "soak")
    return dict(soak)


def _passes_at(soak: dict[str, Any]) -> str:
    """When the soak gate passes (or passed): its ``until`` while soaking, else ``since``."""
    return str(soak["until"] if soak["code"] == "soaking" else soak["since"])


def _to_staging(cli: Cli, world: World) -> None:
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    assert "ok: opened #1 staging" in cli.ok("once")
    assert "ok: merged #1 as " in cli.ok("once")
    world.sync()


def test_once_passes_a_soak_the_records_prove_and_status_never_restarts_it(
    sighted: World,
) -> None:
    cli = Cli(sighted)
    _to_staging(cli, sighted)
    first = cli.ok("once")
    assert "ok: #1 seen live since " in first
    assert "opened #2 prod" not in first  # soak has just begun

    # Every later process sees the digest for the first time; the record says otherwise.
    views = [cli.json("status"), cli.json("status")]
    clocks = [_soak(view) for view in views]
    assert clocks[0]["code"] == "soaking", clocks
    assert len({_passes_at(c) for c in clocks}) == 1, clocks  # "passes at" never moves
    assert [(v["source"], v["probed"]) for v in views] == [("repo", False)] * 2

    # Each `once` is a new process too: without the record, soak would start at every one.
    cycle_until(
        lambda: cli.ok("once"),
        lambda out: "opened #2 prod" in out,
        "the prod request once soak passed",
        pause=0.5,
        seconds=SOAK.total_seconds() * 5,
    )


def test_a_restarted_daemon_keeps_the_soak_clock(sighted: World, tmp_path: Path) -> None:
    cli = Cli(sighted)
    _to_staging(cli, sighted)
    assert "ok: #1 seen live since " in cli.ok("once")
    recorded = _soak(cli.json("status"))["until"]

    daemon = DaemonProcess("run", sighted.remote, tmp_path / "daemon-cache")
    try:
        address = daemon.address()
        view = _daemon_view(cli, address)
        assert (view["source"], view["probed"]) == ("daemon", True)
        # Not the daemon's own first sighting; on a slow machine its first view may come
        # after the soak passed, which it then says happened at the recorded moment.
        assert _passes_at(_soak(view)) == recorded
    finally:
        daemon.stop()


def _daemon_view(cli: Cli, address: str) -> dict[str, Any]:
    """The daemon's view once it has one (its first cycle may still be running)."""
    views = cycle_until(
        lambda: cli("status", "--daemon", address, "-o", "json"),
        lambda done: done.returncode == 0,
        "the daemon's first view",
        pause=0.2,
    )
    return dict(json.loads(views[-1].stdout))


@pytest.fixture
def daemon(world: World, tmp_path: Path) -> Iterator[DaemonProcess]:
    running = DaemonProcess("run", world.remote, tmp_path / "daemon-cache")
    yield running
    running.stop()


def test_status_from_the_daemon_agrees_with_its_metrics(
    world: World, daemon: DaemonProcess
) -> None:
    cli = Cli(world)
    address = daemon.address()
    world.ci_commit(NEW, "b7e2f90")
    cycle_until(
        lambda: world.sync() or world.pinned("staging"),
        lambda pinned: pinned == NEW,
        "staging promoted by the daemon",
        pause=0.2,
    )
    world.sync()
    daemon.wait_for(lambda r: "opened #2 prod" in r["message"], "the prod request")

    def served() -> dict[str, Any]:
        code, body = daemon.get("/status")
        assert code == 200, body
        return dict(json.loads(body))

    def same_cycle() -> tuple[dict[str, Any], str, dict[str, Any]]:
        return served(), daemon.get("/metrics")[1], served()

    # A cycle may end between two reads; the three come from one cycle when both views do.
    seen = cycle_until(
        same_cycle,
        lambda t: t[0]["cycle"] == t[2]["cycle"] and _waits_for_owner(t[0]),
        "prod waiting for a code owner, read within one cycle",
        pause=0.2,
    )
    view, metrics, _ = seen[-1]
    shown = {(r["app"], r["env"], b["code"]) for r in view["rows"] for b in r["blocked"]}
    series = set(re.findall(BLOCKED_SERIES, metrics))
    assert shown == series  # the view and the metrics come from the same cycle's plan

    text = cli.ok("status", "--daemon", address)
    assert text.startswith(f"the daemon's view at http://{address}/status: cycle ")
    assert "waits for approval from a code owner" in text


BLOCKED_SERIES = r'reconciler_blocked\{app="([^"]+)",env="([^"]+)",reason="([^"]+)"\} 1'


def _waits_for_owner(view: dict[str, Any]) -> bool:
    return any(b["code"] == "awaiting-review" for r in view["rows"] for b in r["blocked"])
