from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.world import World

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
