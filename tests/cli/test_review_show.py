"""`review list` and `review show` on the local forge show what a request changes, as the
request body (kept in the ledger) says it; `show` prints the whole body, without the marker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import promotions
from tests.cli.test_repo_verbs import Cli
from tests.e2e.world import APP, NEW, World

UNKNOWN = "versions unknown: promotions.toml has no [registry] to read labels from"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "world")
    yield made
    made.stop()


def test_review_list_and_show_say_what_the_request_changes(world: World) -> None:
    cli = Cli(world)
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    assert "opened #1 staging" in cli.ok("once")

    listed = cli.ok("review", "list").splitlines()
    assert listed[0].startswith("#1\t")
    images = [line for line in listed if line.startswith("    - image: `sha256:")]
    assert len(images) == 1
    assert images[0].endswith(" -> `sha256:b7e2f90c`")  # what staging ran -> the candidate
    assert f"    - {UNKNOWN}" in listed

    (row,) = json.loads(cli.ok("review", "list", "-o", "json"))
    assert row["changes"].startswith("### What changes\n")
    assert UNKNOWN in row["changes"]

    shown = cli.ok("review", "show", "--app", APP, "--env", "staging")
    assert "### What changes" in shown
    assert "### Gate evidence" in shown
    assert "reconciler:promotion" not in shown
    document = json.loads(cli.ok("review", "show", "--request", "1", "-o", "json"))
    marker = promotions.parse_marker(document["body"])
    assert marker is not None
    assert marker.digest == NEW
