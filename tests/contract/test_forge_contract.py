"""The forge contract: FakeForge, LocalForge (in memory and on real git) and GitHubForge
(on the GitHub simulator) agree.

Planner and applier tests use FakeForge; these cases are what lets them trust it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.errors import PermanentError, PolicyError
from reconciler.forge.port import MergeRefused, Request
from reconciler.gates import checks as gates_checks
from reconciler.promotions import Marker
from tests.contract.forgeworld import STAGING, ForgeWorld, make_world
from tests.contract.githubworld import github_world

HEAD = "promote/prod/app"
NEW = b"images:\n- name: app\n  digest: sha256:cc\n"
DIGEST = "sha256:" + "c" * 64
OTHER_DIGEST = "sha256:" + "d" * 64
NEWER = b"images:\n- name: app\n  digest: sha256:dd\n"


@pytest.fixture(params=["fake", "local-memory", "local-git", "github"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ForgeWorld]:
    if request.param == "github":
        with github_world(tmp_path) as running:
            yield running
        return
    yield make_world(request.param, tmp_path)


def open_prod(world: ForgeWorld, content: bytes = NEW) -> tuple[int, str]:
    head = world.push_head(HEAD, content)
    opened = world.forge.open(HEAD, "main", "prod: promote app", "body", ("promotion",))
    return opened.number, head


def test_open_returns_the_request_and_is_idempotent_per_head_branch(world: ForgeWorld) -> None:
    head = world.push_head(HEAD, NEW)

    first = world.forge.open(HEAD, "main", "prod: promote app", "the body", ("promotion",))
    again = world.forge.open(HEAD, "main", "another title", "another body", ())

    assert again.number == first.number
    assert (first.head_branch, first.head_commit, first.base_branch) == (HEAD, head, "main")
    assert (first.title, first.body, first.labels) == (
        "prod: promote app",
        "the body",
        ("promotion",),
    )
    assert (first.author, first.state, first.reviews) == ("@reconciler", "open", ())
    assert_as_opened(world.forge.request(first.number), first)
    (listed,) = world.forge.requests()
    assert_as_opened(listed, first)


def assert_as_opened(read: Request, opened: Request) -> None:
    """``read`` is the request ``open`` answered, but for a later ``updated_at``.

    GitHub labels a pull in a second write after creating it, and that write's answer does
    not give the pull's new ``updated_at``: ``open`` answers the creation's.
    """
    assert read.updated_at >= opened.updated_at
    assert replace(read, updated_at=opened.updated_at) == opened


def test_requests_are_numbered_and_only_open_promotions_are_listed(world: ForgeWorld) -> None:
    world.push_head(HEAD, NEW)
    world.push_head("promote/staging/app", NEW, STAGING)
    world.push_head("feature/x", NEW, "docs/readme.md")

    prod = world.forge.open(HEAD, "main", "prod", "", ())
    staging = world.forge.open("promote/staging/app", "main", "staging", "", ())
    other = world.forge.open("feature/x", "main", "not a promotion", "", ())
    world.forge.close(staging.number, "not needed")

    assert [prod.number, staging.number, other.number] == [1, 2, 3]
    assert [r.number for r in world.forge.requests()] == [prod.number]
    assert world.forge.request(staging.number).state == "closed"
    assert world.forge.request(other.number).state == "open"


def test_update_rewrites_title_and_body_and_keeps_the_number(world: ForgeWorld) -> None:
    number, _ = open_prod(world)
    head = world.push_head(HEAD, NEWER)

    updated = world.forge.update(number, "new title", "new body", "a newer candidate")

    assert (updated.number, updated.title, updated.body) == (number, "new title", "new body")
    assert updated.head_commit == head
    assert world.forge.request(number).title == "new title"


def test_requested_reviewers_accumulate_without_duplicates(world: ForgeWorld) -> None:
    number, _ = open_prod(world)

    world.forge.request_reviews(number, ("@acme/release", "@lead"))
    world.forge.request_reviews(number, ("@lead",))

    assert world.forge.request(number).requested_reviewers == ("@acme/release", "@lead")


def test_add_labels_adds_what_is_missing_and_keeps_the_rest(world: ForgeWorld) -> None:
    world.push_head(HEAD, NEW)
    # Opened without labels: as after a crash between GitHub's two writes.
    opened = world.forge.open(HEAD, "main", "prod: promote app", "", ())
    assert opened.labels == ()

    world.forge.add_labels(opened.number, ("promotion", "team-x"))
    world.forge.add_labels(opened.number, ("promotion", "deploy"))

    (listed,) = world.forge.requests()
    assert sorted(listed.labels) == ["deploy", "promotion", "team-x"]
    assert sorted(world.forge.request(opened.number).labels) == sorted(listed.labels)


def test_reviews_are_bound_to_the_head_and_a_newer_head_voids_approvals(
    world: ForgeWorld,
) -> None:
    number, head = open_prod(world)

    world.forge.review(number, "@lead", "approved", "ship it")
    approved = world.forge.request(number)
    world.push_head(HEAD, NEWER)
    replaced = world.forge.request(number)

    assert list(approved.approvals()) == ["@lead"]
    assert [(r.reviewer, r.state, r.commit, r.comment) for r in approved.reviews] == [
        ("@lead", "approved", head, "ship it")
    ]
    assert replaced.reviews == approved.reviews  # still recorded, for the audit trail
    assert replaced.approvals() == {}


def test_a_later_change_request_withdraws_an_approval(world: ForgeWorld) -> None:
    number, _ = open_prod(world)

    world.forge.review(number, "@lead", "approved")
    world.forge.review(number, "@rita", "approved")
    world.forge.review(number, "@lead", "changes_requested", "wrong digest")

    assert list(world.forge.request(number).approvals()) == ["@rita"]


@pytest.mark.parametrize("state", ["approved", "changes_requested"])
def test_the_author_cannot_review_their_own_request(world: ForgeWorld, state: str) -> None:
    number, _ = open_prod(world)

    with pytest.raises(PolicyError, match="own"):
        world.forge.review(number, "@reconciler", state)  # type: ignore[arg-type]

    assert world.forge.request(number).reviews == ()


def test_closed_requests_take_no_reviews_and_no_merge(world: ForgeWorld) -> None:
    number, head = open_prod(world)
    world.forge.review(number, "@lead", "approved")

    world.forge.close(number, "superseded")
    world.forge.close(number, "closing twice changes nothing")

    with pytest.raises(PolicyError, match="closed"):
        world.forge.review(number, "@lead", "approved")
    with pytest.raises(MergeRefused):
        world.forge.merge(number, head, "merge")
    assert world.forge.request(number).state == "closed"
    assert world.forge.requests() == ()


def test_merge_refuses_a_head_that_moved(world: ForgeWorld) -> None:
    number, old = open_prod(world)
    new = world.push_head(HEAD, NEWER)
    world.forge.review(number, "@lead", "approved")  # on the new head

    with pytest.raises(MergeRefused, match="changed since it was planned"):
        world.forge.merge(number, old, "merge")

    assert world.forge.request(number).state == "open"
    assert world.forge.merge(number, new, "merge") == world.forge.request(number).merged_commit


def test_merge_needs_a_code_owner_approval_on_the_head(world: ForgeWorld) -> None:
    number, head = open_prod(world)
    world.forge.review(number, "@someone", "approved")  # not an owner of overlays/prod/

    with pytest.raises(MergeRefused, match="code owner"):
        world.forge.merge(number, head, "merge")
    world.forge.review(number, "@lead", "approved")
    commit = world.forge.merge(number, head, "prod: promote app (#1)")
    merged = world.forge.request(number)

    assert (merged.state, merged.merged_commit) == ("merged", commit)
    assert merged.merged_at is not None
    assert world.forge.requests() == ()
    assert world.forge.merge(number, head, "again") == commit  # merging twice is a no-op


def test_a_member_of_an_owner_team_may_approve(world: ForgeWorld) -> None:
    number, head = open_prod(world)
    world.forge.review(number, "@ron", "approved")  # @acme/release

    commit = world.forge.merge(number, head, "merge")

    assert world.forge.request(number).merged_commit == commit


def test_files_without_owners_merge_without_approval(world: ForgeWorld) -> None:
    head = world.push_head("promote/staging/app", NEW, STAGING)
    number = world.forge.open("promote/staging/app", "main", "staging", "", ()).number

    commit = world.forge.merge(number, head, "merge")

    assert world.forge.request(number).merged_commit == commit


def test_a_merged_branch_gets_a_new_request_for_its_next_candidate(world: ForgeWorld) -> None:
    number, head = open_prod(world)
    world.forge.review(number, "@lead", "approved")
    world.forge.merge(number, head, "merge")
    later = world.push_head(HEAD, NEWER)

    reopened = world.forge.open(HEAD, "main", "prod: next", "", ())

    assert reopened.number == number + 1
    assert reopened.head_commit == later
    assert world.forge.request(number).state == "merged"
    assert [r.number for r in world.forge.requests()] == [reopened.number]


def test_unknown_requests_are_reported(world: ForgeWorld) -> None:
    with pytest.raises(PermanentError, match="#7"):
        world.forge.request(7)


def test_team_members_and_enforcement(world: ForgeWorld) -> None:
    assert world.forge.members("@acme/release") == frozenset({"@rita", "@ron"})
    assert world.forge.members("@ACME/Release") == frozenset({"@rita", "@ron"})  # slugs: any case
    assert world.forge.members("@acme/nobody") is None
    assert world.forge.codeowner_enforcement("main").enforced


@pytest.mark.parametrize("who", ["@LEAD", "@Ron"], ids=["owner", "team member"])
def test_an_approval_counts_whatever_the_case_of_the_login(world: ForgeWorld, who: str) -> None:
    number, head = open_prod(world)
    world.forge.review(number, who, "approved")
    assert world.forge.merge(number, head, "merge") is not None


def test_reviewer_handles_must_be_users(world: ForgeWorld) -> None:
    number, _ = open_prod(world)

    with pytest.raises(PolicyError, match="handle"):
        world.forge.review(number, "@acme/release", "approved")


def test_a_recorded_sighting_is_found_for_its_app_env_and_digest_only(world: ForgeWorld) -> None:
    marker = Marker("app", "staging", "dev", DIGEST, "0" * 40)
    head = world.push_head("promote/staging/app", NEW, STAGING)
    number = world.forge.open("promote/staging/app", "main", "staging", marker.render(), ())
    world.forge.merge(number.number, head, "merge")
    assert world.forge.seen_live("staging", {"app": DIGEST}) == {}  # merged, not seen

    seen = datetime(2026, 12, 7, 4, 5, 6, tzinfo=UTC)
    world.forge.record_live(number.number, seen)

    assert world.forge.seen_live("staging", {"app": DIGEST}) == {"app": seen}
    assert world.forge.seen_live("staging", {"app": OTHER_DIGEST}) == {}  # another digest
    assert world.forge.seen_live("prod", {"app": DIGEST}) == {}  # another environment
    assert world.forge.seen_live("staging", {"other": DIGEST}) == {}  # another app


def test_an_inferred_live_time_is_no_sighting(world: ForgeWorld) -> None:
    marker = Marker("app", "staging", "dev", DIGEST, "0" * 40)
    head = world.push_head("promote/staging/app", NEW, STAGING)
    number = world.forge.open("promote/staging/app", "main", "staging", marker.render(), ())
    world.forge.merge(number.number, head, "merge")

    world.forge.record_live(number.number, datetime(2026, 12, 7, tzinfo=UTC), inferred=True)

    assert world.forge.seen_live("staging", {"app": DIGEST}) == {}


# -- commit checks (the `checks` gate's reads) ------------------------------------------------


def test_commit_statuses_are_read_back_and_the_latest_of_a_name_counts(world: ForgeWorld) -> None:
    sha = world.push_head(HEAD, NEW)
    assert world.forge.commit_checks(sha).checks == ()
    world.set_status(sha, "e2e", "pending")
    world.set_status(sha, "e2e", "success", "https://ci.example.com/e2e/1")
    world.set_status(sha, "lint", "failure", "https://ci.example.com/lint/1")
    world.set_status(sha, "scan", "error")

    read = world.forge.commit_checks(sha)

    latest = {name: check for (_, name), check in gates_checks.latest(read.checks).items()}
    assert read.sha == sha
    assert {n: (c.state, c.conclusion, c.url) for n, c in latest.items()} == {
        "e2e": ("passed", "success", "https://ci.example.com/e2e/1"),
        "lint": ("failed", "failure", "https://ci.example.com/lint/1"),
        "scan": ("failed", "error", ""),
    }
    assert {c.kind for c in read.checks} == {"status"}
    assert not read.required  # not asked
    other = world.push_head("promote/staging/app", NEWER, STAGING)
    assert world.forge.commit_checks(other).checks == ()  # statuses belong to their commit


def test_required_checks_come_from_the_branch_rules(world: ForgeWorld) -> None:
    sha = world.push_head(HEAD, NEW)
    assert not world.forge.commit_checks(sha, required_on="main").required
    if not world.require_checks("main", ("e2e", "lint")):
        # The local forge has no branch protection: it never names required checks.
        assert world.forge.commit_checks(sha, required_on="main").required is None
        return
    read = world.forge.commit_checks(sha, required_on="main")
    assert sorted(read.required or ()) == ["e2e", "lint"]
    assert world.forge.commit_checks(sha).required is None


def test_statuses_of_a_source_repository_commit_are_its_own(world: ForgeWorld) -> None:
    url, sha = world.source_commit()
    world.set_status(sha, "build", "pending", repository=url)
    world.set_status(sha, "build", "success", "https://ci.example.com/build/3", repository=url)

    read = world.forge.commit_checks(sha, repository=url)

    (latest,) = gates_checks.latest(read.checks).values()
    assert (latest.name, latest.state, latest.url) == (
        "build",
        "passed",
        "https://ci.example.com/build/3",
    )
