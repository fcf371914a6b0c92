"""`reconciler rollback` on the local forge: a reviewed prod rollback, and the hold after it.

NEW goes dev -> staging -> prod; then `reconciler rollback --env prod` opens the prod
request back to the digest prod ran before. The daemon does not close or replace it; only a
code owner's approval lets it merge; once merged, NEW (which staging still runs) is not
promoted into prod again, `history` shows the rollback with its reason, and the daemon
counts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from reconciler import promotions
from reconciler.actions import Close, Merge, Propose
from reconciler.cli import main
from reconciler.model import short
from tests.e2e.conftest import MakeWorld
from tests.e2e.world import NEW, NEWER, OWNER, World, cycle_until, internal_errors

REASON = "checkout returns 500s"


def _rollback(world: World, *extra: str) -> int:
    return world.rollback("prod", REASON, "--as", "@alice", *extra)


def test_a_prod_rollback_is_reviewed_merged_and_held(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    before = world.pinned("prod")
    assert before is not None
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    cycle_until(
        lambda: world.step(wired, approve=OWNER), lambda _: world.settled(NEW), "NEW in prod"
    )
    capsys.readouterr()

    tip = world.tip()
    assert _rollback(world, "--dry-run") == 0
    said = capsys.readouterr().out
    assert said.endswith(
        f"would open a request: prod: roll back order-gateway to {short(before)} "
        "(dry run: nothing written)\n"
    ), said
    assert (world.open_request("prod"), world.tip()) == (None, tip)

    assert _rollback(world) == 0
    said = capsys.readouterr().out
    assert "opened #" in said, said
    request = world.open_request("prod")
    assert request is not None
    marker = promotions.parse_marker(request.body)
    assert marker is not None
    assert (marker.kind, marker.digest, marker.replaces) == ("rollback", before, NEW)
    assert (marker.reason, marker.by) == (REASON, "@alice")
    assert "Not required: a rollback goes back" in request.body
    changed, pinned, head = world.head_change("prod")
    assert (changed, pinned) == (["overlays/prod/kustomization.yaml"], before)
    assert head.trailer(promotions.PROMOTED_FROM) is None
    assert head.trailer(promotions.ROLLBACK_OF) == NEW

    # Asked again while it is open: nothing new is written.
    assert _rollback(world) == 0
    assert "open already" in capsys.readouterr().out

    # The daemon keeps it, asks the code owners, and waits: another person's approval
    # does not count.
    world.approve(request.number, "@mallory")
    for _ in range(3):
        result = world.step(wired)
        assert not [a for a in result.plan.actions if isinstance(a, (Close, Merge))]
        assert not [
            a for a in result.plan.actions if isinstance(a, Propose) and not a.marker.rollback
        ]
    assert [b.code for b in result.plan.blocked] == ["awaiting-review"]
    assert world.pinned("prod") == NEW

    world.approve(request.number, OWNER)
    results = cycle_until(
        lambda: world.step(wired), lambda _: world.pinned("prod") == before, "the rollback"
    )
    assert internal_errors(results) == []
    (merge,) = world.promotion_commits("prod", before)
    assert merge.trailer(promotions.ROLLBACK_REASON) == REASON
    assert merge.trailer(promotions.ROLLED_BACK_BY) == "@alice"

    # Staging still runs NEW: the daemon does not promote it into prod again. The cycle
    # that sees the rollback land counts it, once.
    for _ in range(3):
        result = world.step(wired)
        assert not [a for a in result.plan.actions if isinstance(a, (Propose, Merge))]
        assert wired.metrics.rollbacks.labels(app="order-gateway", env="prod")._value.get() == 1
    (held,) = [b for b in result.plan.blocked if b.env == "prod"]
    assert held.code == "hold"
    assert f"by a rollback ({REASON})" in held.reason
    assert world.pinned("prod") == before

    assert main(["history", "--repo", str(world.remote), "--cache-dir", str(world.root / "h")]) == 0
    text = capsys.readouterr().out
    assert f"rolled back from {short(NEW)}" in text, text
    assert REASON in text
    main(["history", "--repo", str(world.remote), "--cache-dir", str(world.root / "h"), "--json"])
    entries = json.loads(capsys.readouterr().out)
    (rolled,) = [e for e in entries if e["kind"] == "rollback"]
    assert (rolled["to"], rolled["digest"], rolled["reason"], rolled["by"]) == (
        "prod",
        before,
        REASON,
        "@alice",
    )
    assert rolled["state"] == "merged"

    # A newer digest is promoted as usual (rollback_release = "newer-digest").
    world.ci_commit(NEWER, "c4d1a0e")
    world.sync()
    cycle_until(
        lambda: world.step(wired),
        lambda _: (
            (r := world.open_request("prod")) is not None
            and (m := promotions.parse_marker(r.body)) is not None
            and m.digest == NEWER
        ),
        "NEWER proposed to prod",
    )


def test_rollback_says_why_it_cannot(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert _rollback(world, "--to", "sha256:" + "9" * 64) == 1
    said = capsys.readouterr().err
    assert "never ran there" in said, said
    assert world.open_request("prod") is None


def _policy_edit(old: str, new: str) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    """A world edit that replaces ``old`` with ``new`` once in promotions.toml."""

    def edit(files: dict[str, bytes]) -> dict[str, bytes]:
        policy = files["promotions.toml"].decode()
        edited = policy.replace(old, new, 1)
        assert edited != policy
        return {**files, "promotions.toml": edited.encode()}

    return edit


_manual = _policy_edit("[settings]\n", '[settings]\nrollback_release = "manual"\n')


def test_with_manual_release_the_next_digest_waits_for_review_release(
    make_world: MakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(edit=_manual)
    before = world.pinned("prod")
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    cycle_until(
        lambda: world.step(wired, approve=OWNER), lambda _: world.settled(NEW), "NEW in prod"
    )
    assert _rollback(world) == 0
    rollback = world.open_request("prod")
    assert rollback is not None
    world.approve(rollback.number, OWNER)
    cycle_until(lambda: world.step(wired), lambda _: world.pinned("prod") == before, "rollback")

    # NEWER reaches staging; its prod request opens held, and stays so.
    world.ci_commit(NEWER, "c4d1a0e")
    world.sync()
    cycle_until(
        lambda: world.step(wired),
        lambda _: (r := world.open_request("prod")) is not None and "promotion-hold" in r.labels,
        "NEWER's prod request, held",
    )
    held = world.open_request("prod")
    assert held is not None
    assert "reconciler review release --app order-gateway --env prod" in held.body
    world.approve(held.number, OWNER)
    for _ in range(3):
        result = world.step(wired)
        assert not [a for a in result.plan.actions if isinstance(a, Merge)]
    assert [b.code for b in result.plan.blocked if b.env == "prod"] == ["hold"]

    capsys.readouterr()
    release = ["review", "release", "--repo", str(world.remote), "--app", "order-gateway"]
    assert main([*release, "--env", "prod", "--as", OWNER]) == 0
    cycle_until(lambda: world.step(wired), lambda _: world.pinned("prod") == NEWER, "release")
    assert world.open_request("prod") is None


_staging_commits = _policy_edit(
    "[environments.staging]\n", '[environments.staging]\nmode = "commit"\n'
)


def test_a_rollback_the_verb_commits_straight_to_the_branch_is_counted_by_the_daemon(
    make_world: MakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(edit=_staging_commits)
    before = world.pinned("staging")
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    cycle_until(lambda: world.step(wired), lambda _: world.pinned("staging") == NEW, "staging")
    assert world.rollback("staging", REASON, "--as", "@alice", cache="op") == 0, capsys.readouterr()
    assert world.pinned("staging") == before  # committed, no request
    for _ in range(3):
        result = world.step(wired)
        counted = wired.metrics.rollbacks.labels(app="order-gateway", env="staging")
        assert counted._value.get() == 1
    (held,) = [b for b in result.plan.blocked if b.env == "staging"]
    assert f"by a rollback ({REASON})" in held.reason
