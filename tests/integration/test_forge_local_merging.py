"""LocalForge merges on real git: many in one cycle, and a base that moved under them.

A cycle fetches once and then merges what it planned: each merge must read the head it
judges from the remote itself (not fetch the whole repo again), and land on a base that
other merges of the same cycle moved, merging three ways into a file they changed too, as
GitHub merges a pull request whose base moved.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.forge.local import LocalForge
from reconciler.forge.port import MergeRefused
from reconciler.gitrepo.port import ConfigRepo, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.gitrepo.trailers import Trailer
from tests.contract.forgeworld import BASE, HEAD_TRAILERS, LocalForgeWorld
from tests.contract.gitworld import GitWorld
from tests.fakes.forge import stepping_clock

# One kustomization for many apps (no code owners: staging), one entry per app.
SHARED = "overlays/staging/shared/kustomization.yaml"
APPS = [f"app{n:02d}" for n in range(22)]


def shared_file(pins: dict[str, str]) -> bytes:
    """The shared kustomization pinning each app at ``pins`` (default: its old digest)."""
    lines = ["resources:", "- ../../../base", "images:"]
    for app in APPS:
        lines += [f"- name: {app}", f"  newName: registry.example.com/{app}"]
        lines.append(f"  digest: sha256:{pins.get(app, 'old-' + app)}")
    return ("\n".join(lines) + "\n").encode()


class CountingRepo(Pygit2ConfigRepo):
    """The pygit2 adapter, counting fetches (a fetch costs every branch of the repo)."""

    fetches = 0

    def fetch(self) -> None:
        self.fetches += 1
        super().fetch()


@pytest.fixture
def world(tmp_path: Path) -> GitWorld:
    return GitWorld(tmp_path)


@pytest.fixture
def env(world: GitWorld) -> LocalForgeWorld:
    return LocalForgeWorld(world)


def counting_daemon(world: GitWorld, name: str) -> tuple[CountingRepo, LocalForge]:
    repo = CountingRepo.open(world.url, world.root / name, depth=0)
    assert isinstance(repo, CountingRepo)
    return repo, LocalForge(repo, "main", clock=stepping_clock())


def build_head(repo: ConfigRepo, branch: str, path: str, content: bytes, base: str) -> str:
    """``branch`` as one commit on ``base`` writing ``path``, as the daemon builds a head."""
    who = Signature("reconciler", "reconciler@localhost", stepping_clock()())
    outcome = repo.replace_branch(
        branch,
        lambda _view: {path: content},
        base=base,
        expected_old=repo.tip(branch),
        message=f"promote {path}",
        author=who,
        committer=who,
        trailers=HEAD_TRAILERS,
    )
    assert outcome.commit is not None
    return outcome.commit


def open_shared(env: LocalForgeWorld, world: GitWorld) -> tuple[str, dict[int, str]]:
    """22 requests built on one base commit, each pinning its app's new digest in SHARED."""
    base = world.seed({**BASE, SHARED: shared_file({})})
    env.repo.fetch()
    heads: dict[int, str] = {}
    for app in APPS:
        branch = f"promote/staging/{app}"
        head = build_head(env.repo, branch, SHARED, shared_file({app: "new-" + app}), base)
        heads[env.forge.open(branch, "main", f"staging: promote {app}", "", ()).number] = head
    return base, heads


# -- many merges in one cycle ------------------------------------------------------------


def test_every_request_on_one_shared_file_merges_in_one_pass(
    env: LocalForgeWorld, world: GitWorld
) -> None:
    base, heads = open_shared(env, world)
    daemon, forge = counting_daemon(world, "daemon")  # the cycle's one fetch: at its start

    merged = [forge.merge(number, head, f"merge #{number}") for number, head in heads.items()]

    tip = world.remote_tip("main")
    assert tip == merged[-1]
    assert world.remote_files(tip) == {
        **BASE,
        SHARED: shared_file({app: "new-" + app for app in APPS}),
    }
    chain, commit = [], tip
    while commit != base:  # one commit per merge, each on the one before
        info = daemon.commit_info(commit)
        chain.append(info)
        commit = info.parents[0]
    assert [c.id for c in reversed(chain)] == merged
    assert [c.trailer("Promotion-Request") for c in reversed(chain)] == [str(n) for n in heads]
    assert all(forge.request(n).state == "merged" for n in heads)
    assert daemon.fetches == 0


def test_a_cycle_of_merges_never_fetches_and_judges_each_head_on_the_remote(
    env: LocalForgeWorld, world: GitWorld
) -> None:
    _, heads = open_shared(env, world)
    daemon, forge = counting_daemon(world, "daemon")
    (first, first_head), (second, second_head), *_ = heads.items()
    # After the cycle's fetch, someone else rebuilds the second request's head branch.
    someone = world.client()
    moved = build_head(
        someone, f"promote/staging/{APPS[1]}", SHARED, b"by hand\n", someone.tip("main") or ""
    )

    forge.merge(first, first_head, "merge")
    with pytest.raises(MergeRefused, match=f"head is {moved[:12]}, not {second_head[:12]}"):
        forge.merge(second, second_head, "merge")

    assert daemon.fetches == 0
    assert daemon.tip(f"promote/staging/{APPS[1]}") == second_head  # its view stays as fetched
    assert forge.request(second).state == "open"


# -- conflicts and crashes ----------------------------------------------------------------


def test_a_base_change_on_the_lines_next_to_the_request_is_a_conflict(
    env: LocalForgeWorld, world: GitWorld
) -> None:
    base, heads = open_shared(env, world)
    first, head = next(iter(heads.items()))
    # A person edits the line right below the one the request changes (app00's digest):
    # git cannot order two changes that touch, so this conflicts, as it would on GitHub.
    text = shared_file({}).replace(b"- name: app01\n", b"- name: app01-renamed\n")
    moved = world.seed({**BASE, SHARED: text})

    with pytest.raises(MergeRefused) as refused:
        env.forge.merge(first, head, "merge")

    assert str(refused.value) == (
        f"conflict: the base branch changed {SHARED} since request #{first} was built on "
        f"{base[:12]}, on lines the request changes or next to them (a three-way merge "
        "conflicts); the request will be rebuilt on the current base"
    )
    assert world.remote_tip("main") == moved
    assert env.forge.request(first).state == "open"


def test_a_three_way_merge_that_landed_without_its_record_is_seen(
    env: LocalForgeWorld, world: GitWorld
) -> None:
    _, heads = open_shared(env, world)
    (first, _), (second, second_head), *_ = heads.items()
    env.repo.fetch()
    env.forge.merge(first, heads[first], "merge")
    # The daemon dies after merging the second into the base and before its record says so.
    both = shared_file({APPS[0]: "new-" + APPS[0], APPS[1]: "new-" + APPS[1]})
    who = Signature("reconciler", "reconciler@localhost", env.clock())
    landed = env.repo.update_branch(
        "main",
        lambda _view: {SHARED: both},
        message="merge",
        author=who,
        committer=who,
        trailers=[Trailer("Promotion-Request", str(second))],
    ).commit

    assert second not in [r.number for r in env.forge.requests()]
    seen = env.forge.request(second)
    assert (seen.state, seen.merged_commit, seen.head_commit) == ("merged", landed, second_head)
    assert env.forge.merge(second, second_head, "again") == landed  # no second commit
    assert world.remote_tip("main") == landed


def test_a_deleted_file_the_base_changed_is_a_conflict(
    env: LocalForgeWorld, world: GitWorld
) -> None:
    base = world.seed({**BASE, SHARED: shared_file({})})
    env.repo.fetch()
    who = Signature("reconciler", "reconciler@localhost", stepping_clock()())
    head = env.repo.replace_branch(
        "promote/staging/app00",
        lambda _view: {SHARED: None},
        base=base,
        expected_old=None,
        message="drop",
        author=who,
        committer=who,
    ).commit
    assert head is not None
    number = env.forge.open("promote/staging/app00", "main", "drop", "", ()).number
    world.seed({**BASE, SHARED: shared_file({"app05": "x"})})

    with pytest.raises(MergeRefused, match="and the request deletes it; the request will be"):
        env.forge.merge(number, head, "merge")
