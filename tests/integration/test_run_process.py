"""Real `reconciler run` processes: a first fetch that fails, signals during a hanging probe,
and two daemons on one cache folder.

Each daemon is the installed command with its own JSON log read line by line
(runproc.py); gate and live endpoints are a real HTTP server on loopback whose gate
routes hang until the test ends, so a probe in flight stays in flight for as long as the
test needs it to.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import figures
from tests.integration.runproc import GENEROUS, DaemonProcess, config_repo
from tests.servers.endpoints import Endpoints, Route, hang, reply_json, serve

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
APP = "order-gateway"


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    """Version endpoints that answer, gate endpoints that hang until the test ends."""
    with serve() as found:
        for env in ("dev", "staging", "prod"):
            found.routes[f"/{env}/{APP}/version"] = reply_json({"digest": DIGEST})
        yield found


def hang_and_tell(arrived: threading.Event) -> Route:
    """Hang like ``hang()``, having first told the test the probe arrived."""
    inner = hang()

    def route(handler: Any, endpoints: Endpoints) -> None:
        arrived.set()
        inner(handler, endpoints)

    return route


def test_a_first_fetch_that_fails_is_retried_while_healthz_and_readyz_tell_the_truth(
    tmp_path: Path, endpoints: Endpoints
) -> None:
    # A folder with no repository in it yet (as one a sidecar fills): the first fetch fails.
    # A path that does not exist is a mistake instead: test_run_startup.py.
    repo = tmp_path / "config.git"
    repo.mkdir()
    daemon = DaemonProcess("run", repo, tmp_path / "cache")
    try:
        first = daemon.wait_for(lambda r: r.get("event") == "cycle", "cycle 1")
        assert first["ok"] is False
        assert "cannot open the config repo yet, retrying with backoff" in first["message"]
        assert "could not find repository at" in first["message"]
        assert daemon.get("/healthz")[0] == 200
        status, body = daemon.get("/readyz")
        assert status == 503
        assert body.startswith("not ready; cycle 1 could not complete: cannot open the config")

        config_repo(repo, endpoints.url(""))
        done = daemon.wait_for(lambda r: r.get("event") == "cycle" and r["ok"], "a good cycle")
        assert done["trigger"].startswith("retry ")
        assert daemon.get("/readyz") == (200, f"ready; cycle {done['cycle']} ok\n")
        assert daemon.get("/healthz")[0] == 200
        daemon.signal(signal.SIGTERM)
        assert daemon.finish() == 0
    finally:
        daemon.stop()
    figures.line(
        f"run, first fetch failing: kept running, /healthz 200, /readyz 503 until cycle "
        f"{done['cycle']} ({done['trigger']}) ok, then 200; exit 0 on SIGTERM"
    )


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_stop_signal_during_a_hanging_probe_cancels_it_and_exits_0(
    tmp_path: Path, endpoints: Endpoints, sig: signal.Signals
) -> None:
    arrived = threading.Event()
    for env in ("dev", "staging"):
        for gate in ("healthz", "smoke"):
            endpoints.routes[f"/{env}/{APP}/{gate}"] = hang_and_tell(arrived)
    # Both edges have a candidate their source runs (gates are probed for those only).
    endpoints.routes[f"/staging/{APP}/version"] = reply_json({"digest": OTHER})
    # 25s: under the 30s cap, and far longer than a cancelled probe lasts.
    repo = config_repo(
        tmp_path / "config.git",
        endpoints.url(""),
        lambda policy: policy.replace("successes = 2\n", 'successes = 2\ntimeout = "25s"\n'),
        pins={"dev": DIGEST, "staging": OTHER},
    )
    daemon = DaemonProcess("run", repo, tmp_path / "cache")
    try:
        assert arrived.wait(GENEROUS), daemon.text()
        daemon.signal(sig)
        assert daemon.finish() == 0, daemon.text()
    finally:
        daemon.stop()
    records = daemon.records()
    stopped = [r for r in records if r.get("event") == "probes-stopped"]
    assert stopped, daemon.text()
    assert stopped[0]["not_taken"] >= 1
    # Cut short, not failed: no probe of this round became a "no complete response" sample.
    assert "no complete response" not in daemon.text()
    cycles = [r for r in records if r.get("event") == "cycle"]
    assert [c["cycle"] for c in cycles] == [1]
    assert records[-1]["event"] == "stopped"
    assert records[-1]["reason"] == sig.name
    figures.line(
        f"run, {sig.name} during hanging 25s probes: exit 0, probes cancelled "
        f"(not_taken={stopped[0]['not_taken']}, no failed sample), cycle 1 finished"
    )


def test_a_second_daemon_on_the_same_cache_exits_2_and_a_killed_one_leaves_no_lock(
    tmp_path: Path, endpoints: Endpoints
) -> None:
    repo = config_repo(tmp_path / "config.git", endpoints.url(""))
    cache = tmp_path / "cache"
    first = DaemonProcess("run", repo, cache)
    others: list[DaemonProcess] = []
    try:
        first.wait_for(lambda r: r.get("event") == "cycle", "cycle 1")
        for verb in ("run", "once"):
            other = DaemonProcess(verb, repo, cache)
            others.append(other)
            assert other.finish() == 2, other.text()
            said = other.text()
            assert said.startswith(f"reconciler {verb}: the cache folder {cache.resolve()} is ")
            assert f"held by another reconciler (pid {first.process.pid})" in said
            assert "give this one its own --cache-dir" in said
            assert "Traceback" not in said
        # A read-only verb shares the cache with the daemon.
        status = DaemonProcess("status", repo, cache)
        others.append(status)
        assert status.finish() == 0, status.text()

        first.process.kill()  # SIGKILL: no handler runs, the OS releases the lock
        first.finish()
        again = DaemonProcess("run", repo, cache)
        others.append(again)
        again.wait_for(lambda r: r.get("event") == "cycle" and r["ok"], "a cycle after the kill")
        again.signal(signal.SIGTERM)
        assert again.finish() == 0
        figures.line(
            "run, two daemons on one cache: second run and once exit 2 naming the folder and "
            "pid, status shares it, a run after SIGKILL starts (no stale lock)"
        )
    finally:
        first.stop()
        for other in others:
            other.stop()
