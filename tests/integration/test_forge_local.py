"""LocalForge on real git: bare repos on disk, one clone per daemon or reviewer.

The rules both forges share are in tests/contract/test_forge_contract.py; these cases are
about what only git shows: commits on the base and on ``reconciler/requests``, several
clones writing at once, and a daemon that died half-way through a merge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import PermanentError, PolicyError
from reconciler.forge.local import REQUESTS_BRANCH, LocalForge
from reconciler.forge.port import MergeRefused, Request
from reconciler.gitrepo.port import Edit, PushOutcome, ReadView, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.gitrepo.trailers import Trailer
from reconciler.promotions import Marker, body
from tests.contract.forgeworld import BASE, PROD, STAGING, LocalForgeWorld
from tests.contract.gitworld import GitWorld
from tests.fakes.forge import START, stepping_clock

CC, DD = "sha256:" + "c" * 64, "sha256:" + "d" * 64  # candidate digests

HEAD = "promote/prod/app"
NEW = b"images:\n- name: app\n  digest: sha256:cc\n"
NEWER = b"images:\n- name: app\n  digest: sha256:dd\n"
RECORD = ".reconciler/requests/1.json"


@pytest.fixture
def env(tmp_path: Path) -> LocalForgeWorld:
    return LocalForgeWorld(GitWorld(tmp_path))


def world_of(env: LocalForgeWorld) -> GitWorld:
    assert isinstance(env.world, GitWorld)
    return env.world


def reviewer(env: LocalForgeWorld, handle: str) -> LocalForge:
    """``reconciler review`` as ``handle``, from its own clone."""
    clock = stepping_clock(START + timedelta(days=1))
    return LocalForge(env.world.client(), "main", handle=handle, clock=clock)


def open_prod(env: LocalForgeWorld, content: bytes = NEW) -> tuple[Request, str]:
    head = env.push_head(HEAD, content)
    return env.forge.open(HEAD, "main", "prod: promote app", "body", ("promotion",)), head


def record_titles(env: LocalForgeWorld, path: str = RECORD) -> list[str]:
    env.repo.fetch()
    tip = env.repo.tip(REQUESTS_BRANCH)
    assert tip is not None
    return [info.title for info in env.repo.history(tip, path)]


def land_like_a_merge(env: LocalForgeWorld, content: bytes, trailers: Sequence[Trailer]) -> str:
    """Write ``content`` to the prod overlay on the base, as merge's first step does."""
    who = Signature("reconciler", "reconciler@localhost", env.clock())
    outcome = env.repo.update_branch(
        "main",
        lambda _view: {PROD: content},
        message="prod: promote app (#1)",
        author=who,
        committer=who,
        trailers=trailers,
    )
    assert outcome.commit is not None
    return outcome.commit


# -- opening ---------------------------------------------------------------------------


def test_open_writes_one_record_and_a_second_daemon_finds_it(env: LocalForgeWorld) -> None:
    first, head = open_prod(env)
    again = env.forge.open(HEAD, "main", "prod: promote app", "body", ("promotion",))
    other_daemon = LocalForge(env.world.client(), "main", clock=env.clock)

    from_elsewhere = other_daemon.open(HEAD, "main", "another title", "", ())

    assert first.number == again.number == from_elsewhere.number == 1
    assert from_elsewhere.head_commit == head
    assert record_titles(env) == ["open #1 promote/prod/app"]


class GatedRepo(Pygit2ConfigRepo):
    """Holds its first edit at ``gate`` so that two writers build on the same tip."""

    gate: threading.Barrier | None = None

    def _gated(self, edit: Edit) -> Edit:
        def run(view: ReadView) -> Mapping[str, bytes | None] | None:
            gate, self.gate = self.gate, None
            if gate is not None:
                gate.wait()
            return edit(view)

        return run

    def update_branch(self, branch: str, edit: Edit, **kwargs: Any) -> PushOutcome:
        return super().update_branch(branch, self._gated(edit), **kwargs)

    def replace_branch(self, branch: str, edit: Edit, **kwargs: Any) -> PushOutcome:
        return super().replace_branch(branch, self._gated(edit), **kwargs)


@pytest.mark.parametrize(
    ("branch_exists", "heads"),
    [
        (False, ("a", "b")),
        (True, ("a", "b")),
        (False, ("a", "a")),  # two daemons opening the same promotion: one request
        (True, ("a", "a")),
    ],
    ids=["first-ever", "later", "first-ever-same-head", "later-same-head"],
)
def test_two_daemons_opening_at_once_lose_nothing(
    env: LocalForgeWorld, branch_exists: bool, heads: tuple[str, str]
) -> None:
    world = world_of(env)
    earlier = {}
    if branch_exists:
        earlier[HEAD] = open_prod(env)[0].number
    for app in set(heads):
        env.push_head(f"promote/prod/{app}", NEW)
    gate = threading.Barrier(2, timeout=30)
    daemons = []
    for index in range(2):
        repo = GatedRepo.open(world.url, world.root / f"daemon-{index}", depth=0)
        assert isinstance(repo, GatedRepo)
        repo.gate = gate
        daemons.append(LocalForge(repo, "main", clock=stepping_clock()))
    opened: dict[int, Request] = {}
    errors: list[BaseException] = []

    def open_for(index: int) -> None:
        branch = f"promote/prod/{heads[index]}"
        try:
            opened[index] = daemons[index].open(branch, "main", branch, "", ())
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=open_for, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    env.repo.fetch()
    listed = {r.head_branch: r.number for r in env.forge.requests()}
    expected = {f"promote/prod/{app}": opened[heads.index(app)].number for app in heads}
    assert listed == {**earlier, **expected}
    assert sorted(listed.values()) == list(range(1, len(listed) + 1))  # no gaps, no twins
    if heads[0] == heads[1]:
        assert opened[0].number == opened[1].number


# -- reviewing -------------------------------------------------------------------------


def test_a_review_from_another_clone_reaches_the_daemon_after_a_fetch(
    env: LocalForgeWorld,
) -> None:
    request, head = open_prod(env)

    reviewer(env, "@lead").review(request.number, "@lead", "approved", "lgtm")
    before_fetch = env.forge.request(request.number)
    env.repo.fetch()
    after_fetch = env.forge.request(request.number)

    assert before_fetch.reviews == ()
    assert [(r.reviewer, r.commit, r.comment) for r in after_fetch.reviews] == [
        ("@lead", head, "lgtm")
    ]
    assert list(after_fetch.approvals()) == ["@lead"]


def test_a_review_binds_to_the_head_the_remote_has_now(env: LocalForgeWorld) -> None:
    request, _ = open_prod(env)
    lead = reviewer(env, "@lead")  # its clone is fetched now, before the head moves
    newer = env.push_head(HEAD, NEWER)

    reviewed = lead.review(request.number, "@lead", "approved")

    assert [r.commit for r in reviewed.reviews] == [newer]
    assert list(reviewed.approvals()) == ["@lead"]


def test_every_change_is_a_commit_saying_what_happened(env: LocalForgeWorld) -> None:
    request, head = open_prod(env)
    env.forge.request_reviews(request.number, ("@lead",))
    reviewer(env, "@lead").review(request.number, "@lead", "approved")
    env.repo.fetch()

    merged = env.forge.merge(request.number, head, "prod: promote app (#1)")

    assert record_titles(env) == [
        f"merge #1 as {merged[:12]}",
        f"review #1 approved by @lead on {head[:12]}",
        "request reviews on #1 from @lead",
        "open #1 promote/prod/app",
    ]


# -- merging ---------------------------------------------------------------------------


def test_a_merge_is_one_commit_on_the_base_with_the_heads_trailers(env: LocalForgeWorld) -> None:
    world = world_of(env)
    request, head = open_prod(env)
    for handle in ("@lead", "@ron", "@someone"):  # @someone owns nothing: not counted
        reviewer(env, handle).review(request.number, handle, "approved")
    env.repo.fetch()
    before = world.remote_tip("main")

    merged = env.forge.merge(request.number, head, "prod: promote app (#1)\n\nAll gates passed.")

    assert world.remote_tip("main") == merged
    info = env.repo.commit_info(merged)
    assert info.parents == (before,)
    assert info.title == "prod: promote app (#1)"
    assert [(t.key, t.value) for t in info.trailers] == [
        ("Promoted-From", "staging"),
        ("Image-Digest", "sha256:" + "c" * 64),
        ("Promotion-Request", "1"),
        ("Reviewed-by", "@lead"),
        ("Reviewed-by", "@ron"),
    ]
    assert world.remote_files(merged) == {**BASE, PROD: NEW}


def test_a_merge_lands_on_a_base_that_moved_elsewhere(env: LocalForgeWorld) -> None:
    world = world_of(env)
    request, head = open_prod(env)
    reviewer(env, "@lead").review(request.number, "@lead", "approved")
    env.repo.fetch()  # the daemon's cycle starts: merges judge reviews as of its fetch
    moved = world.seed({**BASE, STAGING: b"changed by someone\n"})

    merged = env.forge.merge(request.number, head, "merge")

    assert env.repo.commit_info(merged).parents == (moved,)
    assert world.remote_files(merged) == {**BASE, STAGING: b"changed by someone\n", PROD: NEW}


def test_a_conflicting_base_change_refuses_the_merge(env: LocalForgeWorld) -> None:
    world = world_of(env)
    request, head = open_prod(env)
    reviewer(env, "@lead").review(request.number, "@lead", "approved")
    env.repo.fetch()  # the daemon's cycle starts: merges judge reviews as of its fetch
    moved = world.seed({**BASE, PROD: NEWER})

    with pytest.raises(MergeRefused, match=f"conflict: the base branch changed {PROD}"):
        env.forge.merge(request.number, head, "merge")

    assert world.remote_tip("main") == moved
    assert env.forge.request(request.number).state == "open"


def test_a_second_daemon_merging_the_same_request_gets_the_same_commit(
    env: LocalForgeWorld,
) -> None:
    world = world_of(env)
    request, head = open_prod(env)
    reviewer(env, "@lead").review(request.number, "@lead", "approved")
    env.repo.fetch()  # the daemon's cycle starts: merges judge reviews as of its fetch
    other_daemon = LocalForge(env.world.client(), "main", clock=env.clock)

    merged = env.forge.merge(request.number, head, "merge")
    again = other_daemon.merge(request.number, head, "merge")

    assert again == merged
    assert world.remote_tip("main") == merged
    assert record_titles(env)[0] == f"merge #1 as {merged[:12]}"


# -- a daemon that died between the base commit and the record -------------------------


def test_a_merge_that_landed_without_its_record_is_seen_and_recorded(env: LocalForgeWorld) -> None:
    world = world_of(env)
    request, head = open_prod(env)
    landed = land_like_a_merge(env, NEW, [Trailer("Promotion-Request", "1")])

    assert env.forge.requests() == ()
    seen = env.forge.request(request.number)
    assert (seen.state, seen.merged_commit, seen.head_commit) == ("merged", landed, head)
    assert env.forge.merge(request.number, head, "merge") == landed  # no second commit
    assert world.remote_tip("main") == landed
    world.seed({**BASE, PROD: NEWER})  # the base moves on: only the record knows now
    fresh = LocalForge(env.world.client(), "main")
    assert fresh.request(request.number).merged_commit == landed


def test_a_lost_merge_record_is_kept_when_the_branch_gets_a_new_candidate(
    env: LocalForgeWorld,
) -> None:
    request, _ = open_prod(env)
    landed = land_like_a_merge(env, NEW, [Trailer("Promotion-Request", "1")])
    later = env.push_head(HEAD, NEWER)  # the next candidate rebuilds the branch

    reopened = env.forge.open(HEAD, "main", "prod: next", "", ())

    assert reopened.number == 2
    assert reopened.head_commit == later
    assert env.forge.request(request.number).merged_commit == landed
    assert [r.number for r in env.forge.requests()] == [2]


def test_the_same_change_made_by_hand_is_not_taken_for_a_merge(env: LocalForgeWorld) -> None:
    request, head = open_prod(env)
    reviewer(env, "@lead").review(request.number, "@lead", "approved")
    env.repo.fetch()
    land_like_a_merge(env, NEW, [Trailer("Promotion-Request", "99")])

    assert [r.number for r in env.forge.requests()] == [request.number]
    with pytest.raises(MergeRefused, match="already holds"):
        env.forge.merge(request.number, head, "merge")


# -- the rest of a request's life -------------------------------------------------------


def test_close_and_update_keep_the_conversation(env: LocalForgeWorld) -> None:
    request, head = open_prod(env)

    env.forge.update(request.number, "prod: promote app", "body", "Updated to sha256:cc")
    env.forge.close(request.number, "no longer needed")

    (record,) = env.forge.records()
    assert [c.text for c in record.comments] == ["Updated to sha256:cc", "no longer needed"]
    assert (record.state, record.head_commit) == ("closed", head)
    assert record.closed_at is not None


def test_record_live_keeps_the_first_time(env: LocalForgeWorld) -> None:
    request, _ = open_prod(env)
    first = START + timedelta(hours=5)

    env.forge.record_live(request.number, first)
    env.forge.record_live(request.number, first + timedelta(hours=1))

    assert [r.live_at for r in env.forge.records()] == [first]
    assert record_titles(env)[0] == f"live #1 since {first.isoformat()}"
    assert len(record_titles(env)) == 2  # the second call wrote nothing


def test_record_live_keeps_whether_the_time_was_inferred(env: LocalForgeWorld) -> None:
    request, _ = open_prod(env)
    merged_at = START + timedelta(hours=5)

    env.forge.record_live(request.number, merged_at, inferred=True)

    assert [(r.live_at, r.live_inferred) for r in env.forge.records()] == [(merged_at, True)]
    assert (
        record_titles(env)[0] == f"live #1 since {merged_at.isoformat()} (inferred from the merge)"
    )


def seeded_on(branch: str, files: dict[str, bytes]) -> Callable[[LocalForgeWorld], None]:
    def seed(env: LocalForgeWorld) -> None:
        world_of(env).seed(files, branch=branch)
        env.repo.fetch()

    return seed


def test_a_damaged_record_is_reported_by_file(env: LocalForgeWorld) -> None:
    open_prod(env)
    seeded_on(REQUESTS_BRANCH, {RECORD: b'{"v": 1, "number": 1}\n'})(env)

    assert env.forge.requests() == ()  # the others still read: test_forge_local_damaged.py
    with pytest.raises(PermanentError, match=r"\.reconciler/requests/1\.json on branch"):
        env.forge.request(1)


def test_a_damaged_team_list_is_reported_by_file(env: LocalForgeWorld) -> None:
    seeded_on("main", {**BASE, ".reconciler/teams.toml": b"[teams\n"})(env)

    with pytest.raises(PolicyError, match=r"\.reconciler/teams\.toml on main: not valid TOML"):
        env.forge.members("@acme/release")


def test_a_hold_label_is_added_and_removed_by_a_person(env: LocalForgeWorld) -> None:
    request, _ = open_prod(env)
    person = reviewer(env, "@asha")

    held = person.label(request.number, "promotion-hold", present=True)
    assert held.labels == (*request.labels, "promotion-hold")
    env.repo.fetch()
    assert "promotion-hold" in env.forge.requests()[0].labels  # the daemon sees it
    person.label(request.number, "promotion-hold", present=True)  # already there: no write
    released = person.label(request.number, "promotion-hold", present=False)

    assert released.labels == request.labels
    assert record_titles(env)[:2] == [
        f"unlabel #{request.number} promotion-hold by @asha",
        f"label #{request.number} promotion-hold by @asha",
    ]


def test_a_rollback_by_hand_is_noted_on_the_merged_request_once(env: LocalForgeWorld) -> None:
    marker = Marker("app", "prod", "staging", CC, "c0")
    head = env.push_head(HEAD, NEW)
    request = env.forge.open(HEAD, "main", "prod: promote app", body(marker, "p", "r", "e", ()), ())
    reviewer(env, "@lead").review(request.number, "@lead", "approved")
    env.repo.fetch()  # the daemon's cycle starts: merges judge reviews as of its fetch
    env.forge.merge(request.number, head, "prod: promote app")

    assert env.forge.record_rollback("prod", "app", CC, "0123456789abcdef") is True
    assert env.forge.record_rollback("prod", "app", CC, "0123456789abcdef") is False
    assert env.forge.record_rollback("prod", "app", DD, "0123456789abcdef") is False

    (record,) = env.forge.records()
    assert [c.text for c in record.comments][-1] == "rolled back by hand in 0123456789ab"
