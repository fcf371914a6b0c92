from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.e2e.faultworld import Images
from tests.e2e.world import World
from tests.servers.docker_registry import DOCKER_REGISTRY, RunningRegistry, run_registry
from tests.servers.oci_images import SKOPEO, push, write_policy
from tests.servers.oci_images import build as build_image

MakeWorld = Callable[..., World]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[MakeWorld]:
    """Build worlds (see World's arguments); their sample services stop after the test."""
    worlds: list[World] = []

    def make(**options: Any) -> World:
        world = World(tmp_path / f"world-{len(worlds)}", **options)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.stop()


@pytest.fixture
def world(make_world: MakeWorld) -> World:
    """One world with the default (fast) timing."""
    return make_world()


@pytest.fixture(scope="session")
def app_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningRegistry, Images]]:
    """docker-registry holding two real images of the app: OLD and NEW (see faultworld.py)."""
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    root = tmp_path_factory.mktemp("registry")
    with run_registry(root / "registry") as running:
        policy = write_policy(root / "policy.json")
        digests = []
        for name in ("old", "new"):
            image = build_image(root / name, f"team/order-gateway-{name}", name, ("amd64",))
            push(image, f"{running.host}/team/order-gateway:{name}", policy)
            digests.append(image.digest)
        yield running, Images(running.host, digests[0], digests[1])
