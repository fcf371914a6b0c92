"""Nothing the daemon did not build is merged, whatever a person pushes to a promote branch.

A person who can push ``promote/*`` rewrites an open request's head as one commit on main's
tip: a digest no gate ever saw, 50 replicas, an edit under ``base/``, and the daemon's own
commit message copied word for word. The code owner approves the head the request shows.
Before the fix the daemon merged it (the prod request with that approval, the staging one
with none): whether a head needed rebuilding was judged by the overlay's blob in its parent
alone. Now the head is proven to be exactly the daemon's pin edit, when observing and again
right before merging: the rogue head is rebuilt, said so on the request, never merged.
"""

from __future__ import annotations

from pathlib import Path

from reconciler import promotions
from reconciler.actions import Merge
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.model import short
from tests.e2e.test_review import prod_request
from tests.e2e.world import APP, NEW, OWNER, World, cycle_until, internal_errors, overlay, person

ROGUE = "sha256:" + "e" * 64
BASE_FILE = "base/deployment.yaml"


def rewrite_head(world: World, env: str, root: Path) -> str:
    """Mallory's force-push: one commit on main's tip, the daemon's message copied."""
    repo = Pygit2ConfigRepo.open(str(world.remote), root / "mallory-cache")
    head = promotions.branch(env, APP)
    current = repo.tip(head)
    main = repo.tip("main")
    assert current is not None
    assert main is not None
    theirs = repo.commit_info(current)

    def edit(view: ReadView) -> dict[str, bytes | None]:
        data = view.read(overlay(env))
        deployment = view.read(BASE_FILE)
        assert data is not None
        assert deployment is not None
        pinned = world.pinned(env)
        assert pinned is not None
        return {
            overlay(env): data.replace(pinned.encode(), ROGUE.encode()) + b"replicas:\n"
            b"- name: order-gateway\n  count: 50\n",
            BASE_FILE: deployment + b"# mallory was here\n",
        }

    who = person("mallory")
    pushed = repo.replace_branch(
        head,
        edit,
        base=main,
        expected_old=current,
        message=theirs.message,
        author=who,
        committer=who,
    )
    assert pushed.changed
    assert pushed.commit is not None
    return pushed.commit


def assert_never_merged(world: World, rogue: str) -> None:
    """The rogue head is not on main, main never pinned its digest, base/ is untouched."""
    log = world.main_log()
    ids = {c.id for c in log}
    assert rogue not in ids
    assert all(rogue not in c.parents for c in log)
    assert all(c.trailer(promotions.IMAGE_DIGEST) != ROGUE for c in log)
    assert b"mallory" not in (world.read(BASE_FILE) or b"")
    assert all(world.pinned(env) != ROGUE for env in ("staging", "prod"))


def test_a_rewritten_prod_head_approved_by_the_owner_is_rebuilt_not_merged(
    world: World, tmp_path: Path
) -> None:
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    prod_request(world, wired)
    rogue = rewrite_head(world, "prod", tmp_path)
    request = world.open_request("prod")
    assert request is not None
    assert request.head_commit == rogue
    world.approve(request.number, OWNER)  # the owner approves what the request shows

    results = cycle_until(
        lambda: world.step(wired),
        lambda _: (r := world.open_request("prod")) is not None and r.head_commit != rogue,
        "the rogue head's rebuild",
    )
    assert not [
        a
        for r in results
        for a in r.plan.actions
        if isinstance(a, Merge) and a.expected_head == rogue
    ]
    assert_never_merged(world, rogue)
    (record,) = world.records_for("prod")
    said = [c.text for c in record.comments]
    assert any(t.startswith("Rebuilt: its head") for t in said), said
    changed, digest, _ = world.head_change("prod")
    assert (changed, digest) == ([overlay("prod")], NEW)
    rebuilt = world.open_request("prod")
    assert rebuilt is not None
    assert rebuilt.approvals() == {}

    # The owner's approval of the daemon's own head merges exactly that, named truly.
    world.approve(rebuilt.number, OWNER)
    results += cycle_until(
        lambda: world.step(wired),
        lambda _: world.pinned("prod") == NEW,
        "the prod merge of the rebuilt head",
    )
    assert_never_merged(world, rogue)
    (merge,) = world.promotion_commits("prod")
    assert merge.trailer(promotions.IMAGE_DIGEST) == NEW
    assert short(NEW) in merge.title
    assert internal_errors(results) == []


def test_a_rewritten_staging_head_is_not_auto_merged(world: World, tmp_path: Path) -> None:
    world.ci_commit(NEW, "b7e2f90")
    world.sync()
    wired = world.daemon()
    # Only the cycle that opens the staging request; nothing merges in the same cycle.
    cycle_until(
        lambda: world.step(wired, sync=False),
        lambda _: world.open_request("staging") is not None or world.pinned("staging") == NEW,
        "the staging request",
    )
    assert world.open_request("staging") is not None, "staging merged in the opening cycle"
    rogue = rewrite_head(world, "staging", tmp_path)

    results = cycle_until(
        lambda: world.step(wired),
        lambda _: world.pinned("staging") == NEW,
        "the staging merge",
    )
    assert_never_merged(world, rogue)
    (merge,) = world.promotion_commits("staging")
    assert merge.trailer(promotions.IMAGE_DIGEST) == NEW
    changed = [c.path for c in world.repo().changed_paths(merge.parents[0], merge.id)]
    assert changed == [overlay("staging")]
    assert internal_errors(results) == []
