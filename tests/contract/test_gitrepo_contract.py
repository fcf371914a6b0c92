"""The ConfigRepo contract: the in-memory fake and the pygit2 adapter behave the same."""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.errors import PermanentError, PolicyError, TransientError
from reconciler.gitrepo.port import (
    ConfigRepo,
    Edit,
    FileChange,
    LeaseRejected,
    ReadView,
    Signature,
    UnknownCommit,
)
from reconciler.gitrepo.trailers import Trailer
from reconciler.model import RepoTree
from tests.contract.gitworld import FakeWorld, GitWorld, World

AUTHOR = Signature("Ada Author", "ada@example.com", datetime(2024, 5, 1, 12, 30, tzinfo=UTC))
COMMITTER = Signature(
    "Reconciler Bot",
    "bot@example.com",
    datetime(2024, 5, 2, 8, 15, 42, tzinfo=timezone(timedelta(hours=-7))),
)
BASE = {
    "promotions.toml": b"version = 1\n",
    "overlays/prod/app/kustomization.yaml": b"images:\n- name: app\n  digest: sha256:aa\n",
    "overlays/staging/app/kustomization.yaml": b"images:\n- name: app\n  digest: sha256:bb\n",
    "overlays/production-notes.md": b"not an overlay\n",
}
PROD = "overlays/prod/app/kustomization.yaml"
STAGING = "overlays/staging/app/kustomization.yaml"


@pytest.fixture(params=["fake", "pygit2"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    if request.param == "fake":
        return FakeWorld()
    return GitWorld(tmp_path)


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def write(changes: Mapping[str, bytes | None]) -> Edit:
    """An edit that always asks for ``changes``."""
    return lambda _view: changes


def update(repo: ConfigRepo, changes: Mapping[str, bytes | None], branch: str = "main") -> str:
    outcome = repo.update_branch(
        branch, lambda _view: changes, message="edit", author=AUTHOR, committer=COMMITTER
    )
    assert outcome.commit is not None
    return outcome.commit


# -- reading -----------------------------------------------------------------------------


def test_reads_files_of_any_commit(world: World) -> None:
    first = world.seed(BASE)
    second = world.seed({**BASE, PROD: b"images: []\n"})
    repo = world.client()

    assert repo.tip("main") == second
    assert repo.read(first, PROD) == BASE[PROD]
    assert repo.read(second, PROD) == b"images: []\n"
    assert repo.read(second, "overlays/prod/app/missing.yaml") is None
    assert repo.read(second, "overlays/prod/app") is None  # a folder has no bytes
    assert repo.blob_id(first, PROD) == git_blob_id(BASE[PROD])
    view = repo.tree(second)
    assert view.commit == second
    assert view.kind("overlays/prod") == "dir"
    assert view.kind(PROD) == "file"
    assert view.kind("overlays/dev") == "missing"
    assert view.kind("") == "dir"
    assert view.names("overlays") == ("prod", "production-notes.md", "staging")
    assert view.names(PROD) == ()


@pytest.mark.parametrize(
    ("path", "kind", "content"),
    [
        ("overlays/prod/current", "dir", None),  # -> ../staging (a folder)
        ("overlays/prod/current/app/kustomization.yaml", "file", BASE[STAGING]),
        ("overlays/prod/same.yaml", "file", BASE[PROD]),  # -> app/kustomization.yaml
        ("overlays/prod/out", "escapes", None),  # -> ../../../elsewhere
        ("overlays/prod/abs", "escapes", None),  # -> /etc
        ("overlays/prod/out/app/kustomization.yaml", "escapes", None),
        ("overlays/prod/loop", "missing", None),  # -> loop
        ("overlays/prod/dangling", "missing", None),  # -> nothing-here
        ("overlays/prod/app/kustomization.yaml/x", "missing", None),  # under a file
    ],
)
def test_symlinks_are_followed_inside_the_repo_only(
    world: World, path: str, kind: str, content: bytes | None
) -> None:
    commit = world.seed(
        BASE,
        links={
            "overlays/prod/current": "../staging",
            "overlays/prod/same.yaml": "app/kustomization.yaml",
            "overlays/prod/out": "../../../elsewhere",
            "overlays/prod/abs": "/etc",
            "overlays/prod/loop": "loop",
            "overlays/prod/dangling": "nothing-here",
        },
    )
    view = world.client().tree(commit)
    as_policy_sees_it: RepoTree = view  # a commit's files can be validated like a folder

    assert as_policy_sees_it.kind(path) == kind
    assert view.read(path) == content


@pytest.mark.parametrize("path", ["../outside", "overlays/../../x", "/etc/passwd"])
def test_paths_leaving_the_repo_are_refused(world: World, path: str) -> None:
    commit = world.seed(BASE)
    repo = world.client()

    with pytest.raises(PolicyError):
        repo.read(commit, path)
    with pytest.raises(PolicyError):
        repo.tree(commit).kind(path)


@pytest.mark.parametrize("commit", ["0" * 40, "not-a-commit", "main"])
def test_unknown_commits_are_reported(world: World, commit: str) -> None:
    world.seed(BASE)

    with pytest.raises(UnknownCommit):
        world.client().read(commit, PROD)


def test_changed_paths_are_limited_to_prefixes(world: World) -> None:
    old = world.seed(
        {
            **BASE,
            "overlays/prod/web/kustomization.yaml": b"web\n",
            "overlays/prod/gone/kustomization.yaml": b"gone\n",
            "docs/readme.md": b"docs\n",
        }
    )
    new = world.seed(
        {
            **BASE,
            PROD: b"images: []\n",  # modified
            "overlays/prod/web2/kustomization.yaml": b"web\n",  # renamed from web/
            "overlays/staging/api/kustomization.yaml": b"api\n",  # added
            "overlays/production-notes.md": b"changed, but not under overlays/prod\n",
            "docs/readme.md": b"docs changed\n",  # outside every prefix
        }
    )
    repo = world.client()

    changes = repo.changed_paths(old, new, ["overlays/prod", "overlays/staging/"])

    assert changes == (
        FileChange(PROD, git_blob_id(BASE[PROD]), git_blob_id(b"images: []\n")),
        FileChange("overlays/prod/gone/kustomization.yaml", git_blob_id(b"gone\n"), None),
        FileChange("overlays/prod/web/kustomization.yaml", git_blob_id(b"web\n"), None),
        FileChange("overlays/prod/web2/kustomization.yaml", None, git_blob_id(b"web\n")),
        FileChange("overlays/staging/api/kustomization.yaml", None, git_blob_id(b"api\n")),
    )
    assert [c.status for c in changes] == ["modified", "deleted", "deleted", "added", "added"]
    assert repo.changed_paths(old, new, ["overlays/dev"]) == ()
    assert repo.changed_paths(new, new) == ()
    assert {c.path for c in repo.changed_paths(old, new)} == {c.path for c in changes} | {
        "overlays/production-notes.md",
        "docs/readme.md",
    }


def test_changed_paths_from_nothing_lists_every_file(world: World) -> None:
    commit = world.seed(BASE)

    changes = world.client().changed_paths(None, commit, ["overlays/prod"])

    assert changes == (FileChange(PROD, None, git_blob_id(BASE[PROD])),)


def test_commit_info_reads_people_times_and_trailers(world: World) -> None:
    world.seed(BASE)
    repo = world.client()

    new = repo.update_branch(
        "main",
        lambda _view: {PROD: b"images: []\n"},
        message="Promote app to prod\n\nFrom staging.",
        author=AUTHOR,
        committer=COMMITTER,
        trailers=[
            Trailer("Promoted-From", "staging"),
            Trailer("Image-Digest", "sha256:" + "a" * 64),
        ],
    )
    assert new.commit is not None
    info = repo.commit_info(new.commit)

    assert info.id == new.commit
    assert info.parents == (new.previous,)
    assert info.author == AUTHOR
    assert info.committer == COMMITTER
    assert info.time == COMMITTER.time
    assert info.title == "Promote app to prod"
    assert info.message == (
        "Promote app to prod\n\nFrom staging.\n\n"
        f"Promoted-From: staging\nImage-Digest: sha256:{'a' * 64}\n"
    )
    assert info.trailer("promoted-from") == "staging"
    assert info.trailer("Source-Commit") is None


def test_history_lists_the_commits_that_changed_a_path(world: World) -> None:
    first = world.seed(BASE)
    world.seed({**BASE, "docs/x.md": b"x\n"})
    third = world.seed({**BASE, "docs/x.md": b"x\n", PROD: b"v2\n"})
    world.seed({**BASE, "docs/x.md": b"y\n", PROD: b"v2\n"})
    fifth = world.seed({**BASE, "docs/x.md": b"y\n", PROD: b"v3\n"})
    repo = world.client()

    assert [c.id for c in repo.history(fifth, PROD)] == [fifth, third, first]
    assert [c.id for c in repo.history(fifth, "overlays/prod/app")] == [fifth, third, first]
    assert [c.id for c in repo.history(fifth, PROD, limit=2)] == [fifth, third]
    assert [c.id for c in repo.history(third, PROD)] == [third, first]
    assert repo.history(fifth, "overlays/dev") == ()


def test_file_histories_match_history_per_path_in_one_walk(world: World) -> None:
    first = world.seed(BASE)
    second = world.seed({**BASE, "docs/x.md": b"x\n"})
    third = world.seed({**BASE, "docs/x.md": b"x\n", PROD: b"v2\n"})
    fourth = world.seed({**BASE, "docs/x.md": b"y\n", PROD: b"v2\n", STAGING: b"s2\n"})
    fifth = world.seed({**BASE, "docs/x.md": b"y\n", PROD: b"v3\n", STAGING: b"s2\n"})
    repo = world.client()
    files = [PROD, STAGING, "overlays/dev/app/kustomization.yaml", "docs/x.md"]

    for limit in (1, 2, 20):
        found = repo.file_histories(fifth, files, limit=limit)
        assert not found.stopped
        for path in files:
            one = repo.history(fifth, path, limit=limit, first_parent=True)
            assert found.files[path] == one, (path, limit)

    since = repo.file_histories(fifth, files, stop=second)
    assert since.stopped  # second is an ancestor: only what came after it
    assert [c.id for c in since.files[PROD]] == [fifth, third]
    assert [c.id for c in since.files[STAGING]] == [fourth]
    assert since.files["docs/x.md"] == (repo.commit_info(fourth),)
    assert repo.file_histories(fifth, [], stop=first).stopped  # nothing asked: still walks
    assert repo.file_histories(fifth, [PROD], stop=fifth).files[PROD] == ()


def test_a_history_walk_handed_to_another_process_finds_what_a_walk_here_finds(
    world: World,
) -> None:
    # A cold start hands this walk to its worker process (reconciler.pinworkers), run there
    # as it is run here: spawned, the task pickled.
    world.seed(BASE)
    world.seed({**BASE, PROD: b"v2\n"})
    tip = world.seed({**BASE, PROD: b"v3\n", STAGING: b"s2\n"})
    repo = world.client()
    files = [PROD, STAGING, "overlays/dev/app/kustomization.yaml"]

    task = repo.file_histories_task(tip, files, 2)

    if task is None:  # only the in-memory fake, whose commits live in this process
        assert isinstance(world, FakeWorld)
        return
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        there = pool.submit(task).result(timeout=120)
    assert there == repo.file_histories(tip, files, limit=2)
    assert there is not None
    assert [c.id for c in there.files[PROD]][:1] == [tip]


def test_file_histories_walk_everything_when_the_stop_is_not_an_ancestor(world: World) -> None:
    world.seed(BASE)
    old_tip = world.seed({**BASE, PROD: b"v2\n"})
    rewritten = world.seed({**BASE, PROD: b"v9\n"}, parent=None, branch="tmp")
    repo = world.client()

    found = repo.file_histories(rewritten, [PROD], stop=old_tip)

    assert not found.stopped
    assert [c.id for c in found.files[PROD]] == [rewritten]


# -- writing -----------------------------------------------------------------------------


def test_update_builds_one_commit_on_the_tip(world: World) -> None:
    tip = world.seed({**BASE, "old/only.txt": b"bye\n"})
    repo = world.client()

    outcome = repo.update_branch(
        "main",
        lambda _view: {
            PROD: b"images: []\n",  # modified
            "overlays/dev/app/kustomization.yaml": b"new\n",  # new, in new folders
            "old/only.txt": None,  # deleted: its folder goes too
            "never/there.txt": None,  # deleting what is absent changes nothing
        },
        message="edit",
        author=AUTHOR,
        committer=COMMITTER,
    )

    assert outcome.changed
    assert outcome.previous == tip
    assert outcome.attempts == 1
    assert outcome.commit == world.remote_tip("main") == repo.tip("main")
    assert outcome.commit is not None
    assert repo.commit_info(outcome.commit).parents == (tip,)
    assert world.remote_files(outcome.commit) == {
        **BASE,
        PROD: b"images: []\n",
        "overlays/dev/app/kustomization.yaml": b"new\n",
    }
    assert repo.tree(outcome.commit).kind("old") == "missing"


@pytest.mark.parametrize("changes", [None, {}, {PROD: BASE[PROD]}, {"absent.txt": None}])
def test_an_edit_with_nothing_to_do_makes_no_commit(
    world: World, changes: Mapping[str, bytes | None] | None
) -> None:
    tip = world.seed(BASE)
    repo = world.client()

    outcome = repo.update_branch(
        "main", lambda _view: changes, message="edit", author=AUTHOR, committer=COMMITTER
    )

    assert not outcome.changed
    assert outcome.commit == tip
    assert world.remote_tip("main") == tip


def test_the_edit_sees_the_tip_it_builds_on(world: World) -> None:
    tip = world.seed(BASE)
    repo = world.client()
    seen: list[str] = []

    def bump(view: ReadView) -> dict[str, bytes | None]:
        seen.append(view.commit)
        return {PROD: (view.read(PROD) or b"") + b"# bumped\n"}

    outcome = repo.update_branch("main", bump, message="m", author=AUTHOR, committer=COMMITTER)

    assert seen == [tip]
    assert outcome.commit is not None
    assert world.remote_files(outcome.commit)[PROD] == BASE[PROD] + b"# bumped\n"


def test_the_loser_of_a_race_reapplies_its_edit_on_the_new_tip(world: World) -> None:
    tip = world.seed(BASE)
    winner, loser = world.client(), world.client()
    calls: list[str] = []

    def loser_edit(view: ReadView) -> dict[str, bytes | None]:
        calls.append(view.commit)
        if len(calls) == 1:  # the winner pushes after the loser read the tip
            update(winner, {STAGING: b"winner\n"})
        return {PROD: b"loser\n"}

    outcome = loser.update_branch(
        "main", loser_edit, message="m", author=AUTHOR, committer=COMMITTER
    )

    assert outcome.attempts == 2
    assert calls[0] == tip
    assert calls[1] == winner.tip("main")
    assert outcome.commit == world.remote_tip("main")
    assert outcome.commit is not None
    files = world.remote_files(outcome.commit)
    assert files[STAGING] == b"winner\n"  # no lost update
    assert files[PROD] == b"loser\n"
    assert loser.commit_info(outcome.commit).parents == (winner.tip("main"),)


def test_the_retry_budget_is_bounded(world: World) -> None:
    world.seed(BASE)
    busy, repo = world.client(), world.client(max_attempts=3)
    calls = 0

    def always_overtaken(_view: ReadView) -> dict[str, bytes | None]:
        nonlocal calls
        calls += 1
        update(busy, {f"busy/{calls}.txt": b"x\n"})
        return {PROD: b"never lands\n"}

    with pytest.raises(TransientError, match="after 3 attempts"):
        repo.update_branch(
            "main", always_overtaken, message="m", author=AUTHOR, committer=COMMITTER
        )

    assert calls == 3
    final = world.remote_tip("main")
    assert final is not None
    assert world.remote_files(final)[PROD] == BASE[PROD]


def test_updating_a_missing_branch_is_permanent(world: World) -> None:
    world.seed(BASE)

    with pytest.raises(PermanentError, match="'release' does not exist"):
        update(world.client(), {PROD: b"x\n"}, branch="release")


def test_a_branch_created_after_the_last_fetch_is_found(world: World) -> None:
    tip = world.seed(BASE)
    repo = world.client()
    world.set_branch("release", tip)

    commit = update(repo, {PROD: b"x\n"}, branch="release")

    assert world.remote_tip("release") == commit


@pytest.mark.parametrize(
    "changes",
    [
        {"../escape.txt": b"x"},
        {"/etc/passwd": b"x"},
        {".git/config": b"x"},
        {"overlays/.GIT/hooks/x": b"x"},
        {"": b"x"},
        {f"{PROD}/under-a-file": b"x"},  # the path is a file
        {"overlays/prod": b"x"},  # the path is a folder
        {"overlays/link/file.yaml": b"x"},  # through a symlink
        {"overlays/link": b"x"},  # over a symlink
        {"a/b": b"x", "a/b/c": b"y"},  # one path under another
        {"a/b": b"x", "./a//b": b"y"},  # the same path twice
    ],
)
def test_bad_writes_are_policy_errors(world: World, changes: Mapping[str, bytes | None]) -> None:
    tip = world.seed(BASE, links={"overlays/link": "prod"})
    repo = world.client()

    with pytest.raises(PolicyError):
        update(repo, changes)
    assert world.remote_tip("main") == tip


@pytest.mark.parametrize(
    "branch", ["", "bad..name", "with space", "ends/", "a/.hidden", "x.lock", "a:b"]
)
def test_bad_branch_names_are_policy_errors(world: World, branch: str) -> None:
    world.seed(BASE)

    with pytest.raises(PolicyError):
        world.client().tip(branch)


def test_replace_branch_forces_a_rolling_branch_under_a_lease(world: World) -> None:
    base = world.seed(BASE)
    repo = world.client()
    branch = "promote/prod/app"

    def promote(digest: bytes) -> Edit:
        return lambda _view: {PROD: b"digest: " + digest + b"\n"}

    created = repo.replace_branch(
        branch, promote(b"one"), base=base, expected_old=None,
        message="promote", author=AUTHOR, committer=COMMITTER,
    )  # fmt: skip
    assert created.changed
    assert created.commit == world.remote_tip(branch) == repo.tip(branch)
    assert created.commit is not None
    assert repo.commit_info(created.commit).parents == (base,)

    again = repo.replace_branch(
        branch, promote(b"one"), base=base, expected_old=created.commit,
        message="promote", author=AUTHOR, committer=COMMITTER,
    )  # fmt: skip
    assert not again.changed  # same change on the same base: the head commit stays
    assert again.commit == created.commit == world.remote_tip(branch)

    rewritten = repo.replace_branch(
        branch, promote(b"two"), base=base, expected_old=created.commit,
        message="promote", author=AUTHOR, committer=COMMITTER,
    )  # fmt: skip
    assert rewritten.changed
    assert rewritten.previous == created.commit
    assert rewritten.commit == world.remote_tip(branch)
    assert rewritten.commit is not None
    assert repo.commit_info(rewritten.commit).parents == (base,)  # not stacked on the old one


def test_replace_branch_with_a_stale_lease_is_refused(world: World) -> None:
    base = world.seed(BASE)
    mine, theirs = world.client(), world.client()
    branch = "promote/prod/app"
    edit_one = write({PROD: b"one\n"})
    first = mine.replace_branch(
        branch, edit_one, base=base, expected_old=None,
        message="m", author=AUTHOR, committer=COMMITTER,
    )  # fmt: skip
    theirs.fetch()
    other = theirs.replace_branch(
        branch, lambda _v: {PROD: b"theirs\n"}, base=base, expected_old=first.commit,
        message="m", author=AUTHOR, committer=COMMITTER,
    )  # fmt: skip

    with pytest.raises(LeaseRejected) as refused:
        mine.replace_branch(
            branch, lambda _v: {PROD: b"mine\n"}, base=base, expected_old=first.commit,
            message="m", author=AUTHOR, committer=COMMITTER,
        )  # fmt: skip

    assert world.remote_tip(branch) == other.commit  # their update survives
    assert refused.value.expected == first.commit
    assert refused.value.actual == other.commit
    with pytest.raises(LeaseRejected):  # "must not exist yet" is a lease too
        mine.replace_branch(
            branch, lambda _v: {PROD: b"mine\n"}, base=base, expected_old=None,
            message="m", author=AUTHOR, committer=COMMITTER,
        )  # fmt: skip
    assert world.remote_tip(branch) == other.commit


def test_a_force_pushed_branch_is_followed(world: World) -> None:
    old_root = world.seed(BASE)
    world.seed({**BASE, "old.txt": b"old history\n"})
    repo = world.client()
    rewritten = world.seed({**BASE, "new.txt": b"new history\n"}, parent=None, branch="tmp")
    world.set_branch("main", rewritten)  # someone rewrote main's history
    world.set_branch("tmp", None)

    repo.fetch()
    commit = update(repo, {PROD: b"after rewrite\n"})

    assert repo.tip("main") == commit == world.remote_tip("main")
    assert repo.commit_info(commit).parents == (rewritten,)
    files = world.remote_files(commit)
    assert "new.txt" in files
    assert "old.txt" not in files
    assert old_root not in {c.id for c in repo.history(commit, PROD)}


def test_fetch_follows_new_and_deleted_branches(world: World) -> None:
    tip = world.seed(BASE)
    world.set_branch("promote/prod/app", tip)
    world.set_branch("promote/staging/app", tip)
    repo = world.client()
    assert repo.branches("promote/") == {"promote/prod/app": tip, "promote/staging/app": tip}

    world.set_branch("promote/prod/app", None)
    world.set_branch("promote/prod/web", tip)
    assert repo.tip("promote/prod/web") is None  # not fetched yet
    repo.fetch()

    assert repo.branches("promote/prod/") == {"promote/prod/web": tip}
    assert repo.tip("promote/prod/app") is None
    assert repo.branches() == {"main": tip, "promote/prod/web": tip, "promote/staging/app": tip}


def test_remote_tip_reads_one_branch_now_and_leaves_the_clone_as_fetched(world: World) -> None:
    tip = world.seed(BASE)
    world.set_branch("promote/prod/app", tip)
    repo = world.client()
    moved = world.seed({**BASE, PROD: b"moved\n"}, branch="promote/prod/app")
    world.set_branch("promote/staging/app", tip)

    assert repo.remote_tip("promote/prod/app") == moved
    assert repo.remote_tip("promote/staging/app") == tip
    assert repo.remote_tip("promote/prod/gone") is None
    assert repo.tip("promote/prod/app") == tip  # the clone's view: still as fetched
    assert repo.tip("promote/staging/app") is None
    with pytest.raises(PolicyError, match="not a valid git branch name"):
        repo.remote_tip("bad..name")


@pytest.mark.parametrize(
    "who",
    [
        Signature("", "x@example.com", AUTHOR.time),
        Signature("Evil <x>", "x@example.com", AUTHOR.time),
        Signature("Name", "", AUTHOR.time),
    ],
)
def test_unwritable_signatures_are_refused_before_anything_is_written(
    world: World, who: Signature
) -> None:
    tip = world.seed(BASE)

    with pytest.raises(ValueError, match="cannot commit as"):
        world.client().update_branch(
            "main", write({PROD: b"x"}), message="m", author=who, committer=COMMITTER
        )
    assert world.remote_tip("main") == tip


def test_signatures_need_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Signature("a", "a@example.com", datetime(2024, 1, 1))
