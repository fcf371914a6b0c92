"""Only the daemon's own edit is merged: what a person can push to a promote branch.

Each row is a head someone could push to ``promote/prod/gw``; the check must say whether it
is exactly the daemon's pin edit on a base commit, and whether merging it now still gives
exactly that edit on the base branch's tip (a shared overlay rebases, a conflict rebuilds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

import pytest

from reconciler import provenance, units
from reconciler.actions import PinEdit
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App, ImagePart
from tests.fakes.gitrepo import FakeConfigRepo, FakeRemote

OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
ROGUE = "sha256:" + "3" * 64
OVERLAY = "overlays/prod/kustomization.yaml"
GW = App(name="gw", image="reg.example/gw")
PAY = App(name="pay", image="reg.example/pay")
GOOD_MESSAGE = f"Promote gw to prod\n\nPromoted-From: staging\nImage-Digest: {NEW}\n"


def kustomization(gw: str, pay: str = OLD, replicas: int = 2) -> bytes:
    return (
        "resources:\n- ../../base\n"
        f"replicas:\n- name: gw\n  count: {replicas}\n"
        f"images:\n- name: gw\n  digest: {gw}\n- name: pay\n  digest: {pay}\n"
    ).encode()


BASE = {OVERLAY: kustomization(OLD), "base/deploy.yaml": b"kind: Deployment\n"}


def pin(app: App, digest: str) -> PinEdit:
    return PinEdit(
        app=app, format="kustomize", path=OVERLAY, pin=ImagePin(app.image_name, "", digest)
    )


def edited(files: dict[str, bytes], app: App, digest: str) -> dict[str, bytes]:
    return {**files, OVERLAY: provenance.pin_edit(pin(app, digest))(files[OVERLAY])}


class World:
    """main at M0; ``main`` moves when a row asks; heads are pushed as people might."""

    def __init__(self) -> None:
        self.remote = FakeRemote()
        self.m0 = self.remote.commit(BASE)
        self.tip = self.m0

    def advance(self, files: dict[str, bytes]) -> None:
        self.tip = self.remote.commit(files, parents=(self.tip,), message="by hand\n")

    def head(
        self, files: dict[str, bytes], parents: tuple[str, ...], message: str = GOOD_MESSAGE
    ) -> str:
        return self.remote.commit(files, parents=parents, message=message)


Row = Callable[[World], str]  # builds the world, returns the head to check


def daemon_edit(w: World) -> str:
    return w.head(edited(BASE, GW, NEW), (w.m0,))


def rogue_digest(w: World) -> str:
    return w.head(edited(BASE, GW, ROGUE), (w.m0,))


def replicas_too(w: World) -> str:
    files = {**BASE, OVERLAY: kustomization(OLD, replicas=50)}
    return w.head(edited(files, GW, NEW), (w.m0,))


def base_edited_too(w: World) -> str:
    files = {**edited(BASE, GW, NEW), "base/deploy.yaml": b"kind: Deployment\nevil: 1\n"}
    return w.head(files, (w.m0,))


def two_parents(w: World) -> str:
    side = w.head({**BASE, "extra.txt": b"x\n"}, (w.m0,))
    return w.head(edited(BASE, GW, NEW), (w.m0, side))


def parent_off_main(w: World) -> str:
    side = w.head({**BASE, "base/deploy.yaml": b"kind: Secret\n"}, (w.m0,), "side\n")
    return w.head(edited({**BASE, "base/deploy.yaml": b"kind: Secret\n"}, GW, NEW), (side,))


def message_names_another_digest(w: World) -> str:
    return w.head(edited(BASE, GW, NEW), (w.m0,), GOOD_MESSAGE.replace(NEW, ROGUE))


def changes_nothing(w: World) -> str:
    return w.head(BASE, (w.m0,))


def main_moved_elsewhere(w: World) -> str:
    head = daemon_edit(w)
    w.advance({**BASE, "base/deploy.yaml": b"kind: Deployment\nreplicas: 3\n"})
    return head


def shared_overlay_moved(w: World) -> str:
    head = daemon_edit(w)
    w.advance(edited(BASE, PAY, ROGUE))  # another app's promotion into the same file
    return head


def own_line_moved(w: World) -> str:
    head = daemon_edit(w)
    w.advance(edited(BASE, GW, ROGUE))  # a person pinned gw by hand meanwhile
    return head


ROWS: list[tuple[str, Row, str | None, bool]] = [
    # (case, head, problem expected (a fragment), current)
    ("the daemon's edit on the tip", daemon_edit, None, True),
    ("a digest no gate saw", rogue_digest, "other than by pinning", False),
    ("replicas set to 50 as well", replicas_too, "other than by pinning", False),
    ("base/ edited as well", base_edited_too, "changes base/deploy.yaml", False),
    ("a merge commit", two_parents, "has 2 parents", False),
    ("built on a commit main never had", parent_off_main, "not built on the base", False),
    ("the message names another digest", message_names_another_digest, "does not name", False),
    ("no change at all", changes_nothing, "changes nothing", False),
    ("main changed another file since", main_moved_elsewhere, None, True),
    ("main promoted another app in the same file", shared_overlay_moved, None, True),
    ("main changed gw's own line since", own_line_moved, None, False),
]


@pytest.mark.parametrize(("case", "row", "problem", "current"), ROWS, ids=[r[0] for r in ROWS])
def test_only_the_daemons_own_edit_is_built(
    case: str, row: Row, problem: str | None, current: bool
) -> None:
    world = World()
    head = row(world)
    repo = FakeConfigRepo(world.remote)
    chain = provenance.BaseChain(repo)
    chain.move_to(world.tip)
    edit = provenance.pin_edit(pin(GW, NEW))

    found = provenance.check_head(
        repo, chain, head, base_tip=world.tip, digest=NEW, edits={OVERLAY: edit}
    )

    if problem is None:
        assert found.problem is None, case
        assert found.current is current, case
    else:
        assert found.problem is not None
        assert problem in found.problem, found.problem


def test_the_chain_follows_a_fast_forward_and_forgets_a_rewrite() -> None:
    world = World()
    repo = FakeConfigRepo(world.remote)
    chain = provenance.BaseChain(repo)
    chain.move_to(world.tip)
    world.advance({**BASE, "a": b"1\n"})
    first = world.tip
    world.advance({**BASE, "a": b"2\n"})
    chain.move_to(world.tip)
    assert chain.holds(first)
    assert chain.holds(world.m0)
    # main force-pushed back to M0: the commits after it are no longer on the base.
    chain.move_to(world.m0)
    assert not chain.holds(first)
    assert chain.holds(world.m0)


# An app of several images with its migrations part in a sub-kustomization: the daemon's
# edit is one commit changing both files, each exactly by its share of the pin.
JOBS = "overlays/prod/jobs/kustomization.yaml"
LEDGER = App(
    name="ledger",
    images=MappingProxyType(
        {
            "api": ImagePart(name="api", image="reg.example/ledger"),
            "migrate": ImagePart(name="migrate", image="reg.example/migrate", overlay="jobs"),
        }
    ),
)
UNIT_NEW = units.key({"api": NEW, "migrate": ROGUE})
UNIT_BASE = {
    OVERLAY: b"resources:\n- jobs\nimages:\n- name: ledger\n  digest: " + OLD.encode() + b"\n",
    JOBS: b"images:\n- name: migrate\n  digest: " + OLD.encode() + b"\n",
}
UNIT_MESSAGE = GOOD_MESSAGE.replace(NEW, UNIT_NEW)


def unit_edits() -> dict[str, provenance.Edit]:
    parts = (("api", ImagePin("ledger", "", NEW)), ("migrate", ImagePin("migrate", "", ROGUE)))
    edit = PinEdit(
        app=LEDGER, format="kustomize", path=OVERLAY, pin=ImagePin("", "", UNIT_NEW, parts)
    )
    return provenance.unit_edits(edit, lambda folder: ("kustomization.yaml",))


def unit_edited(
    files: dict[str, bytes], only: tuple[str, ...] = (OVERLAY, JOBS)
) -> dict[str, bytes]:
    edits = unit_edits()
    return {**files, **{path: edits[path](files[path]) for path in only}}


UNIT_ROWS: list[tuple[str, Callable[[dict[str, bytes]], dict[str, bytes]], str | None]] = [
    ("both files, each by its share", unit_edited, None),
    ("the overlay file only", lambda f: unit_edited(f, (OVERLAY,)), f"changes {JOBS} other"),
    ("the part's file only", lambda f: unit_edited(f, (JOBS,)), f"changes {OVERLAY} other"),
    (
        "the part's job edited as well",
        lambda f: {**unit_edited(f), "overlays/prod/jobs/job.yaml": b"evil\n"},
        "changes overlays/prod/jobs/job.yaml; a promotion changes",
    ),
]


@pytest.mark.parametrize(("case", "made", "problem"), UNIT_ROWS, ids=[r[0] for r in UNIT_ROWS])
def test_a_units_edit_of_several_files_is_one_commit_changing_each_by_its_share(
    case: str, made: Callable[[dict[str, bytes]], dict[str, bytes]], problem: str | None
) -> None:
    remote = FakeRemote()
    base = remote.commit(UNIT_BASE)
    head = remote.commit(made(UNIT_BASE), parents=(base,), message=UNIT_MESSAGE)
    repo = FakeConfigRepo(remote)
    chain = provenance.BaseChain(repo)
    chain.move_to(base)

    found = provenance.check_head(
        repo, chain, head, base_tip=base, digest=UNIT_NEW, edits=unit_edits()
    )

    if problem is None:
        assert (found.problem, found.current) == (None, True), case
    else:
        assert found.problem is not None, case
        assert problem in found.problem, found.problem


def test_a_unit_whose_parts_all_live_in_their_own_folder_edits_that_file_only() -> None:
    parts = {name: replace(part, overlay="jobs") for name, part in LEDGER.images.items()}
    app = replace(LEDGER, images=MappingProxyType(parts))
    pinned = (("api", ImagePin("ledger", "", NEW)), ("migrate", ImagePin("migrate", "", ROGUE)))
    edit = PinEdit(
        app=app, format="kustomize", path=OVERLAY, pin=ImagePin("", "", UNIT_NEW, pinned)
    )

    edits = provenance.unit_edits(edit, lambda folder: ("kustomization.yaml",))

    assert list(edits) == [JOBS]
    both = b"images:\n- name: ledger\n  digest: " + OLD.encode() + b"\n" + UNIT_BASE[JOBS][8:]
    assert edits[JOBS](both) == (
        b"images:\n- name: ledger\n  digest: " + NEW.encode() + b"\n"
        b"- name: migrate\n  digest: " + ROGUE.encode() + b"\n"
    )
