"""``ConfigRepo.merged_file``: one file as git's three-way merge leaves it, fake and pygit2.

A forge merges a promotion request whose base moved with a three-way merge; the daemon
asks the same question to decide whether the head still gives exactly its edit. The rows
follow git's merge rules (git-merge(1), "HOW CONFLICTS ARE PRESENTED", and the xdiff merge
that treats changes to adjacent lines as one conflicting hunk); libgit2 implements them,
and the fake must agree on every row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.gitworld import FakeWorld, GitWorld, World

FILE = "overlays/staging/kustomization.yaml"
BASE = b"images:\n- name: a\n  digest: A0\n- name: b\n  digest: B0\n- name: c\n  digest: C0\n"

ROWS: list[tuple[str, bytes, bytes, bytes | None]] = [
    # (case, ours = the base branch now, theirs = the request's head, the merge or None)
    ("only theirs changed", BASE, BASE.replace(b"A0", b"A1"), BASE.replace(b"A0", b"A1")),
    ("only ours changed", BASE.replace(b"B0", b"B1"), BASE, BASE.replace(b"B0", b"B1")),
    (
        "separate lines: both changes kept",
        BASE.replace(b"C0", b"C1"),
        BASE.replace(b"A0", b"A1"),
        BASE.replace(b"C0", b"C1").replace(b"A0", b"A1"),
    ),
    (
        "the same change on both sides",
        BASE.replace(b"A0", b"A1"),
        BASE.replace(b"A0", b"A1"),
        BASE.replace(b"A0", b"A1"),
    ),
    (
        "the same line changed two ways",
        BASE.replace(b"A0", b"A2"),
        BASE.replace(b"A0", b"A1"),
        None,
    ),
    (
        "adjacent lines changed: one hunk, a conflict",
        BASE.replace(b"- name: b", b"- name: bee"),
        BASE.replace(b"A0", b"A1"),
        None,
    ),
    (
        "a line added at the end by ours",
        BASE + b"- name: d\n  digest: D0\n",
        BASE.replace(b"A0", b"A1"),
        BASE.replace(b"A0", b"A1") + b"- name: d\n  digest: D0\n",
    ),
]


@pytest.fixture(params=["fake", "pygit2"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    if request.param == "fake":
        return FakeWorld()
    return GitWorld(tmp_path)


@pytest.mark.parametrize(("case", "ours", "theirs", "merged"), ROWS, ids=[r[0] for r in ROWS])
def test_a_file_merges_as_git_merges_it(
    world: World, case: str, ours: bytes, theirs: bytes, merged: bytes | None
) -> None:
    ancestor = world.seed({FILE: BASE, "other": b"1\n"})
    mine = world.seed({FILE: ours, "other": b"2\n"}, parent=ancestor)
    head = world.seed({FILE: theirs, "other": b"1\n"}, branch="head", parent=ancestor)
    repo = world.client()
    assert repo.merged_file(ancestor, mine, head, FILE) == merged, case


def test_a_file_deleted_on_one_side_merges_to_nothing(world: World) -> None:
    ancestor = world.seed({FILE: BASE, "other": b"1\n"})
    mine = world.seed({"other": b"1\n"}, parent=ancestor)
    head = world.seed(
        {FILE: BASE.replace(b"A0", b"A1"), "other": b"1\n"}, branch="h", parent=ancestor
    )
    assert world.client().merged_file(ancestor, mine, head, FILE) is None
