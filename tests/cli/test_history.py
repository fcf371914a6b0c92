"""`reconciler history` over a real config repo: every review with the head it was given
on and its comment, and a live time inferred from the merge said to be so."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_repo_verbs import Cli
from tests.e2e.world import NEW, NEWER, World

WAIT = "the soak in dev is not over yet;\nthe error rate of this image has to settle first"


def without_staging_live_source(files: dict[str, bytes]) -> dict[str, bytes]:
    """The demo's files with no ``[live.staging]``: staging's live times are the merges'."""
    policy = files["promotions.toml"].decode()
    cut = re.sub(r"\[live\.staging\]\n(?:[^\[\n][^\n]*\n)*\n?", "", policy)
    assert cut != policy
    return {**files, "promotions.toml": cut.encode()}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "world", edit=without_staging_live_source)
    yield made
    made.stop()


def test_history_keeps_superseded_reviews_and_says_a_live_time_is_inferred(
    world: World,
) -> None:
    cli = Cli(world)
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    assert "opened #1 staging" in cli.ok("once")
    approve = ("review", "approve", "--request", "1", "--as", "@asha")
    cli.ok(*approve, "--comment", "looks right")
    cli.ok("review", "request-changes", "--request", "1", "--as", "@bob", "--comment", WAIT)
    old_head = world.open_request("staging").head_commit  # type: ignore[union-attr]
    world.ci_commit(NEWER, "c4d1a0e")  # a newer digest moves the request's head
    world.sync()
    assert "updated #1" in cli.ok("once")
    cli.ok(*approve)
    assert "merged #1" in cli.ok("once")
    assert "(inferred from the merge: staging has no live source)" in cli.ok("once")

    (line,) = cli.ok("history", "--env", "staging").splitlines()
    shown = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME", line)
    superseded = f"(on superseded head {old_head[:12]})"
    assert (
        f'; approved by @asha at TIME {superseded} "looks right", @asha at TIME (counted: @asha); '
        f"other reviews: @bob requested changes at TIME {superseded} "
        '"the soak in dev is not over yet; the error rate of this…"; merged TIME as '
    ) in shown
    assert line.endswith("(inferred from the merge: staging has no live source)")

    (entry,) = json.loads(cli.ok("history", "--env", "staging", "--json"))
    assert [a["by"] for a in entry["approvals"]] == ["@asha"]  # the merged head's only
    assert [(r["by"], r["state"], r["superseded"], r["comment"]) for r in entry["reviews"]] == [
        ("@asha", "approved", True, "looks right"),
        ("@bob", "changes_requested", True, WAIT),
        ("@asha", "approved", False, None),
    ]
    assert {r["head"] for r in entry["reviews"][:2]} == {old_head}
    assert (entry["live_at"], entry["live_inferred"]) == (entry["merged_at"], True)
