"""The real daemon on a demo-like repo, scraped by a real Prometheus: drift appears when prod
runs a digest git does not pin (a hand-made deploy), and clears when prod runs the pin again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.server import Status, StatusServer
from reconciler.wiring import Wired
from tests.e2e.world import APP, World
from tests.servers.prometheus import PromAPI, run_prometheus

HAND = "sha256:" + "c3" * 32  # deployed by hand: no overlay pins it


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    running = World(tmp_path / "world")
    yield running
    running.stop()


def test_prometheus_sees_drift_from_a_hand_made_deploy_and_its_fix(
    world: World, tmp_path: Path
) -> None:
    daemon = world.daemon()
    server = StatusServer(
        "127.0.0.1:0", daemon.metrics, lambda: Status((True, "ok"), (True, "ok"))
    ).start()
    try:
        with run_prometheus(server.address, tmp_path) as prometheus:
            in_sync(world, daemon, prometheus)
            pinned = world.pinned("prod")
            world.services.deploy("prod", APP, HAND)  # `kubectl set image` by hand
            world.step(daemon, sync=False)
            prometheus.wait_value("reconciler_drift", {"app": APP, "env": "prod"}, 1.0)
            assert prometheus.has("reconciler_live_image_info", {"env": "prod", "digest": HAND})
            assert prometheus.has(
                "reconciler_desired_image_info", {"env": "prod", "digest": pinned or ""}
            )
            world.sync()  # Argo CD puts back what git pins
            world.step(daemon)
            prometheus.wait_value("reconciler_drift", {"app": APP, "env": "prod"}, 0.0)
            assert prometheus.has("reconciler_drift_seconds", {"env": "prod"}, 0.0)
    finally:
        server.stop()


def in_sync(world: World, daemon: Wired, prometheus: PromAPI) -> None:
    """A first cycle with everything in sync: every environment reports no drift."""
    world.step(daemon)
    for env in ("dev", "staging", "prod"):
        prometheus.wait_value("reconciler_drift", {"app": APP, "env": env}, 0.0)
