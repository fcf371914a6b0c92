"""The incremental reader of the desired state gives exactly what a full read gives.

After every step of a story (overlays edited, files added elsewhere, the policy and
CODEOWNERS changed, a symlinked overlay's target edited, the branch rewritten), a reader
that has followed every commit must hold what a new reader reads from scratch at that
commit. Run on the in-memory fake and on pygit2, as the other repo contracts are.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from reconciler.desired import Desired, DesiredReader
from reconciler.gates import PinFact, pinned_since
from reconciler.gitrepo.port import ConfigRepo, ReadView
from reconciler.pinfacts import Windows
from reconciler.policy import Policy
from reconciler.registryfacts import offered
from reconciler.revisions import changed_keys
from tests.contract.gitworld import FakeWorld, GitWorld, World

POLICY = b"""version = 1
[apps.web]
image = "r.io/web"
[apps.api]
image = "r.io/api"
[apps.db]
image = "r.io/db"
[environments.dev]
overlay = "overlays/dev/{app}"
[environments.prod]
follows = "dev"
overlay = "overlays/prod/{app}"
"""


def overlay(app: str, digest: str) -> bytes:
    return (
        f"images:\n- name: {app}\n  newName: r.io/{app}\n  digest: sha256:{digest * 64}\n".encode()
    )


BASE = {
    "promotions.toml": POLICY,
    ".github/CODEOWNERS": b"/overlays/prod/ @acme/release\n",
    "common/db/kustomization.yaml": overlay("db", "1"),
    **{
        f"overlays/{env}/{app}/kustomization.yaml": overlay(app, "0")
        for env in ("dev", "prod")
        for app in ("web", "api")
    },
}
LINKS = {"overlays/dev/db": "../../common/db", "overlays/prod/db": "../../common/db"}

Files = dict[str, bytes]
# Each step turns the tip's files (and links) into the next commit's.
STEPS: list[tuple[str, Callable[[Files], Files]]] = [
    ("nothing changes", lambda f: f),
    (
        "one overlay edited",
        lambda f: {**f, "overlays/dev/web/kustomization.yaml": overlay("web", "2")},
    ),
    ("a file elsewhere", lambda f: {**f, "README.md": b"hello\n"}),
    (
        "the symlinked target edited",
        lambda f: {**f, "common/db/kustomization.yaml": overlay("db", "3")},
    ),
    (
        "two overlays at once",
        lambda f: {
            **f,
            "overlays/prod/web/kustomization.yaml": overlay("web", "2"),
            "overlays/prod/api/kustomization.yaml": overlay("api", "4"),
        },
    ),
    ("CODEOWNERS changed", lambda f: {**f, ".github/CODEOWNERS": b"/overlays/ @acme/all\n"}),
    (
        "an overlay renamed to .yml",
        lambda f: {
            **{k: v for k, v in f.items() if k != "overlays/dev/api/kustomization.yaml"},
            "overlays/dev/api/kustomization.yml": overlay("api", "5"),
        },
    ),
    (
        "an overlay removed",
        lambda f: {k: v for k, v in f.items() if k != "overlays/prod/api/kustomization.yaml"},
    ),
    (
        "an overlay made unreadable",
        lambda f: {**f, "overlays/dev/web/kustomization.yaml": b"images: [\n"},
    ),
    (
        "the policy drops an app",
        lambda f: {
            **f,
            "promotions.toml": POLICY.replace(b'[apps.api]\nimage = "r.io/api"\n', b""),
        },
    ),
    ("the policy is broken", lambda f: {**f, "promotions.toml": b"version = \n"}),
    ("the policy is fixed", lambda f: {**f, "promotions.toml": POLICY}),
    (
        "the overlay fixed again",
        lambda f: {
            **f,
            "overlays/dev/web/kustomization.yaml": overlay("web", "6"),
            "overlays/prod/api/kustomization.yaml": overlay("api", "6"),
        },
    ),
]


@pytest.fixture(params=["fake", "pygit2"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    if request.param == "fake":
        return FakeWorld()
    return GitWorld(tmp_path)


def comparable(desired: Desired) -> tuple[object, ...]:
    if desired.errors:
        # The commit's policy is invalid: a reader that saw a valid one keeps it in force
        # (and reads overlays under it), which a reader starting here cannot; the errors
        # and CODEOWNERS must still agree.
        return (desired.commit, desired.errors, desired.owners)
    return (desired.commit, desired.policy, desired.errors, dict(desired.overlays), desired.owners)


def read_with(world: World, commit: str) -> tuple[DesiredReader, Desired, Policy]:
    """A new reader of ``commit``, what it read, and the policy in force there."""
    repo = world.client()
    repo.fetch()
    reader = DesiredReader(repo)
    desired = reader.read(commit, "main")
    assert desired.policy is not None
    return reader, desired, desired.policy


def fresh(world: World, commit: str) -> Desired:
    repo = world.client()
    repo.fetch()
    return DesiredReader(repo).read(commit, "main")


def test_following_every_commit_reads_what_a_fresh_reader_reads(world: World) -> None:
    files: Files = dict(BASE)
    tip = world.seed(files, links=LINKS)
    repo = world.client()
    reader = DesiredReader(repo)
    last = reader.read(tip, "main")
    assert comparable(last) == comparable(fresh(world, tip))
    for name, step in STEPS:
        files = step(files)
        tip = world.seed(files, links=LINKS, message=f"{name}\n")
        repo.fetch()
        now = reader.read(tip, "main")
        assert comparable(now) == comparable(fresh(world, tip)), name
        if now.errors:
            assert now.policy is not None, f"{name}: the last good policy is no longer in force"
        assert reader.full_reads == 1, f"{name}: a fast-forward was read from scratch"
        # What the replanner is told changed must hold every pair whose state did.
        differ = {
            k
            for k in {*last.overlays, *now.overlays}
            if last.overlays.get(k) != now.overlays.get(k)
        }
        told = changed_keys(last.overlays, now.overlays)
        assert differ <= told, f"{name}: a changed overlay was not told"
        if name == "one overlay edited":
            assert told == {("web", "dev")}, name  # and nothing else is planned again
        unchanged = {k for k, v in last.overlays.items() if now.overlays.get(k) == v}
        if name in ("nothing changes", "a file elsewhere"):
            assert unchanged == set(last.overlays), name
            assert all(now.overlays[k] is last.overlays[k] for k in unchanged), name
        last = now


def test_the_same_commit_is_read_once(world: World) -> None:
    tip = world.seed(dict(BASE), links=LINKS)
    reader = DesiredReader(world.client())
    first = reader.read(tip, "main")
    assert reader.read(tip, "main") is first


class _Noting:
    """A view that notes, at each file read, whether the cyclic collector runs."""

    def __init__(self, view: ReadView, seen: list[bool]) -> None:
        self._view = view
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)

    def read(self, path: str) -> bytes | None:
        self._seen.append(gc.isenabled())
        return self._view.read(path)


def test_the_collector_is_paused_for_a_full_read_only(world: World) -> None:
    # A full read builds what lives on (millions of objects at 10,000 apps): the collector
    # would walk them again and again, finding nothing (reconciler.collector).
    first = world.seed(dict(BASE), links=LINKS)
    repo = world.client()
    seen: list[bool] = []
    tree = repo.tree
    noting = SimpleNamespace(tree=lambda commit: _Noting(tree(commit), seen))
    reader = DesiredReader(cast(ConfigRepo, _Delegating(repo, noting)))
    gc.enable()

    reader.read(first, "main")
    assert seen
    assert not any(seen)
    assert gc.isenabled()

    edited = world.seed({**BASE, "promotions.toml": POLICY + b"\n"}, links=LINKS)
    repo.fetch()
    seen.clear()
    reader.read(edited, "main")  # builds on the first: only what changed is read
    assert reader.full_reads == 1
    assert seen
    assert all(seen)


class _Delegating:
    """``repo`` with some of its methods replaced by ``override``'s."""

    def __init__(self, repo: object, override: SimpleNamespace) -> None:
        self._repo = repo
        self._override = override

    def __getattr__(self, name: str) -> Any:
        return getattr(self._override, name, None) or getattr(self._repo, name)


def test_a_rewritten_branch_is_read_from_scratch(world: World) -> None:
    world.seed(dict(BASE), links=LINKS)
    old = world.seed(
        {**BASE, "overlays/dev/web/kustomization.yaml": overlay("web", "7")}, links=LINKS
    )
    repo = world.client()
    reader = DesiredReader(repo)
    reader.read(old, "main")
    rewritten = world.seed(
        {**BASE, "overlays/dev/web/kustomization.yaml": overlay("web", "8")},
        links=LINKS,
        parent=None,
        branch="tmp",
    )
    world.set_branch("main", rewritten)
    repo.fetch()

    now = reader.read(rewritten, "main")

    assert reader.full_reads == 2
    assert comparable(now) == comparable(fresh(world, rewritten))
    web = now.overlays[("web", "dev")]
    assert [fact.commit for fact in web.history] == [rewritten]  # the old commits are gone


def test_histories_are_extended_not_restarted(world: World) -> None:
    world.seed(dict(BASE), links=LINKS)
    repo = world.client()
    reader = DesiredReader(repo)
    tips = []
    for n in range(25):  # more commits than the history keeps
        digest = "abcdef0123456789"[n % 16]
        tips.append(
            world.seed(
                {**BASE, "overlays/dev/web/kustomization.yaml": overlay("web", digest)}, links=LINKS
            )
        )
        repo.fetch()
        reader.read(tips[-1], "main")
    last = reader.read(tips[-1], "main")
    read = last.overlays[("web", "dev")]
    # Only the newest pin is read with the overlay; the rest where a plan looks at it.
    assert ([f.commit for f in read.history], len(read.unread)) == ([tips[-1]], 19)
    history = window(reader, last, ("web", "dev"))
    assert reader.full_reads == 1
    assert len(history) == 20
    assert [fact.commit for fact in history] == tips[-20:]
    assert [fact.digest for fact in history] == [
        f"sha256:{'abcdef0123456789'[n % 16] * 64}" for n in range(5, 25)
    ]
    again = DesiredReader(world.client())
    again.repo.fetch()
    assert history == window(again, again.read(tips[-1], "main"), ("web", "dev"))


def window(reader: DesiredReader, desired: Desired, key: tuple[str, str]) -> tuple[PinFact, ...]:
    """The overlay's whole history window, as observing reads it for a plan."""
    assert desired.policy is not None
    app, env = desired.policy.apps[key[0]], desired.policy.environments[key[1]]
    return reader.pins.complete(env, app, desired.overlays[key], {}).history


def test_a_candidates_overlays_are_read_whole_and_no_others(world: World) -> None:
    # dev pins web@7 at the first commit; the second changes dev's web overlay without
    # changing its digest (a comment), so only the older commit says since when dev has
    # pinned it: a soak must count from there.
    kept = overlay("web", "7")
    first = world.seed(
        {**BASE, "overlays/dev/web/kustomization.yaml": kept, "README.md": b"1\n"}, links=LINKS
    )
    tip = world.seed(
        {**BASE, "overlays/dev/web/kustomization.yaml": b"# CI\n" + kept, "README.md": b"2\n"},
        links=LINKS,
    )
    reader, desired, policy = read_with(world, tip)
    windows = Windows(reader.pins)
    candidates = offered(policy, desired.overlays, {})
    assert candidates == {("web", "prod"): f"sha256:{'7' * 64}"}
    parsed = reader.pins.parses

    made = windows.for_candidates(policy, desired.overlays, candidates)

    source = made[("web", "dev")]
    assert [(f.commit, f.digest) for f in source.history] == [
        (first, f"sha256:{'7' * 64}"),
        (tip, f"sha256:{'7' * 64}"),
    ]
    assert source.unread == ()
    assert pinned_since(source.history, f"sha256:{'7' * 64}") == source.history[0].committed_at
    assert made[("web", "prod")].unread == ()
    # What no plan looks at stays as read: the api's overlays were not read again.
    assert made[("api", "dev")] is desired.overlays[("api", "dev")]
    assert reader.pins.parses == parsed + 1  # dev's first version of web
    # The next cycle with the same overlays gets the same objects: nothing looks changed.
    assert windows.for_candidates(policy, desired.overlays, candidates) is made
    assert reader.pins.parses == parsed + 1


def test_an_overlay_both_source_and_target_is_walked_back_for_its_candidate(
    world: World,
) -> None:
    # staging is the source of staging -> prod and the target of dev -> staging: the rule
    # for a manual rollback into staging needs its history walked back, whichever edge's
    # candidate comes first.
    three = POLICY.replace(
        b'[environments.prod]\nfollows = "dev"',
        b'[environments.staging]\nfollows = "dev"\noverlay = "overlays/staging/{app}"\n'
        b'[environments.prod]\nfollows = "staging"',
    )
    files = {
        **BASE,
        "promotions.toml": three,
        **{
            f"overlays/staging/{app}/kustomization.yaml": overlay(app, "0")
            for app in ("web", "api")
        },
    }
    links = {**LINKS, "overlays/staging/db": "../../common/db"}
    world.seed(
        {**files, "overlays/staging/web/kustomization.yaml": overlay("web", "5")}, links=links
    )
    for n in range(1, 23):  # more commits than the window holds, none pinning 9 in staging
        world.seed(
            {
                **files,
                "README.md": str(n).encode(),
                "overlays/staging/web/kustomization.yaml": overlay("web", "8" if n % 2 else "7"),
            },
            links=links,
        )
    tip = world.seed(
        {
            **files,
            "overlays/dev/web/kustomization.yaml": overlay("web", "9"),
            "overlays/staging/web/kustomization.yaml": overlay("web", "7"),
        },
        links=links,
    )
    reader, desired, policy = read_with(world, tip)
    candidates = offered(policy, desired.overlays, {})
    assert {k for k in candidates if k[0] == "web"} == {("web", "staging"), ("web", "prod")}
    for order in (candidates, dict(reversed(list(candidates.items())))):
        made = Windows(reader.pins).for_candidates(policy, desired.overlays, order)
        staging = made[("web", "staging")]
        # Walked back past the 20-commit window to the file's first commit (digest 9 was
        # never pinned there): the window alone would stop 20 commits back.
        assert len(staging.history) > 20
        assert staging.history[0].digest == f"sha256:{'5' * 64}"
