"""GitHubForge against the GitHub simulator (real HTTP on loopback, OpenAPI-checked answers).

The simulator keeps GitHub's rules (code-owner reviews, expected-head merges, 304s that cost
no rate limit, secondary limits with Retry-After); these tests check that the adapter maps
them onto the Forge port as the local forge would.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import github
import pytest
from github import Auth

from reconciler import wiring
from reconciler.clock import utc_now
from reconciler.errors import PermanentError, RateLimited, TransientError
from reconciler.forge.github.client import API_VERSION, USER_AGENT, AppTokenEndpoint, Client
from reconciler.forge.github.deployments import DEPLOY_TASK, INFERRED_NOTE
from reconciler.forge.github.forge import GitHubForge
from reconciler.forge.port import MergeRefused, Request
from reconciler.gitrepo.credentials import Secret
from reconciler.metrics import Metrics
from reconciler.policy import Policy, load_policy
from reconciler.promotions import Marker
from reconciler.settings import Settings
from tests.servers.github_sim import GitHubSim, serve_github
from tests.servers.github_sim.state import Deployment

CC, DD = "sha256:" + "c" * 64, "sha256:" + "d" * 64  # candidate digests

HEAD = "promote/prod/app"
PROD = "overlays/prod/app/kustomization.yaml"
STAGING = "overlays/staging/app/kustomization.yaml"
CODEOWNERS = b"""\
/overlays/prod/ @acme/prod-owners @lead
"""
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
BODY = "the table\n" + Marker("app", "prod", "staging", CC, "abc").render()


class World:
    """The simulator with the daemon's account, owners, and a forge acting as the daemon."""

    def __init__(self, sim: GitHubSim) -> None:
        self.sim = sim
        self.tokens = {
            "reconciler": sim.add_user("reconciler"),
            "alice": sim.add_user("alice"),
            "lead": sim.add_user("lead"),
            "bob": sim.add_user("bob"),
            "root": sim.add_user("root", permission="admin"),
        }
        sim.add_team("prod-owners", ("alice",))
        self.base = sim.commit(
            "main",
            {
                ".github/CODEOWNERS": CODEOWNERS,
                PROD: b"digest: sha256:aa\n",
                STAGING: b"digest: sha256:bb\n",
            },
        )
        self.seen: list[tuple[str, int]] = []
        self.remaining: list[float] = []
        self.slept: list[float] = []
        self.forge = self.forge_as("reconciler")

    def forge_as(self, login: str, retries: int = 4) -> GitHubForge:
        return GitHubForge(
            "acme/config",
            base_url=self.sim.url,
            token=self.tokens[login],
            on_request=lambda method, status: self.seen.append((method, status)),
            on_rate_limit=self.remaining.append,
            sleep=self.slept.append,
            retries=retries,
        )

    def push_head(self, content: bytes = b"digest: sha256:cc\n", branch: str = HEAD) -> str:
        return self.sim.commit(branch, {PROD: content}, parent=self.sim.tip("main"))

    def open(self, branch: str = HEAD) -> tuple[int, str]:
        head = self.push_head(branch=branch)
        number = self.forge.open(branch, "main", "prod: promote app", BODY, ("promotion",)).number
        return number, head

    def review(self, number: int, login: str, event: str = "APPROVE") -> None:
        gh = github.Github(
            base_url=self.sim.url,
            auth=Auth.Token(self.tokens[login]),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        gh.get_repo("acme/config").get_pull(number).create_review(event=event, body="r")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GitHubSim]:
    with serve_github(tmp_path / "config.git") as running:
        yield running
        # In every test here, each request the forge sent named GitHub's media type and version.
        assert [e for e in running.unversioned if e.user_agent == USER_AGENT] == []


@pytest.fixture
def world(sim: GitHubSim) -> World:
    return World(sim)


# -- requests -----------------------------------------------------------------------------


def test_open_is_idempotent_and_lists_only_promotions(world: World) -> None:
    head = world.push_head()
    world.sim.commit("feature/x", {"docs.md": b"x\n"}, parent=world.base)

    first = world.forge.open(HEAD, "main", "prod: promote app", BODY, ("promotion", "prod"))
    again = world.forge.open(HEAD, "main", "another title", "another body", ())
    world.forge.open("feature/x", "main", "not a promotion", "", ())

    assert_as_opened(again, first)
    assert (first.number, first.head_branch, first.head_commit, first.base_branch) == (
        1,
        HEAD,
        head,
        "main",
    )
    assert (first.title, first.body, first.labels) == (
        "prod: promote app",
        BODY,
        ("promotion", "prod"),
    )
    assert (first.author, first.state, first.reviews) == ("@reconciler", "open", ())
    assert first.requested_reviewers == ("@acme/prod-owners", "@lead")  # GitHub asks owners
    (listed,) = world.forge.requests()
    assert_as_opened(listed, first)
    assert_as_opened(world.forge.request(1), first)


def test_open_answers_the_pull_as_created_without_reading_it(tmp_path: Path) -> None:
    ticks = itertools.count()  # every timestamp the simulator takes is a second later
    with serve_github(tmp_path / "c.git", clock=lambda: T0 + timedelta(seconds=next(ticks))) as sim:
        world = World(sim)
        world.push_head()
        world.sim.reset_counters()

        opened = world.forge.open(HEAD, "main", "prod: promote app", BODY, ("promotion",))
        writes = [e.operation for e in world.sim.exchanges]
        (listed,) = world.forge.requests()

    assert writes == [
        "POST /repos/{owner}/{repo}/pulls",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/labels",
    ]
    assert opened.labels == ("promotion",)
    assert opened.updated_at == opened.created_at  # the label write's time is not answered
    assert listed.updated_at > opened.updated_at
    assert replace(listed, updated_at=opened.updated_at) == opened


def assert_as_opened(read: Request, opened: Request) -> None:
    """``read`` is what ``open`` answered, but for the label write's later ``updated_at``."""
    assert read.updated_at >= opened.updated_at
    assert replace(read, updated_at=opened.updated_at) == opened


def test_an_open_that_lost_the_race_returns_the_winners_pull(world: World) -> None:
    world.push_head()
    winner = world.forge_as("bob").open(HEAD, "main", "bob's", "", ())

    mine = world.forge.open(HEAD, "main", "prod: promote app", BODY, ())

    assert mine.number == winner.number
    assert mine.author == "@bob"


def test_update_rewrites_title_and_body_and_adds_one_comment(world: World) -> None:
    number, _ = world.open()
    newer = world.push_head(b"digest: sha256:dd\n")

    updated = world.forge.update(number, "prod: promote app dd", "new body", "a newer candidate")
    world.forge.update(number, "prod: promote app dd", "new body", None)

    assert (updated.title, updated.body, updated.head_commit) == (
        "prod: promote app dd",
        "new body",
        newer,
    )
    assert [c.body for c in world.sim.pull(number).comments] == ["a newer candidate"]


def test_reviews_are_requested_from_users_and_teams_but_never_the_author(world: World) -> None:
    number, _ = world.open()

    world.forge.request_reviews(number, ("@reconciler", "@bob", "@acme/prod-owners"))

    pull = world.sim.pull(number)
    assert "reconciler" not in pull.requested_reviewers
    assert "bob" in pull.requested_reviewers
    assert pull.requested_teams == ["prod-owners"]
    assert "@bob" in world.forge.request(number).requested_reviewers


def test_an_approval_on_an_older_head_counts_for_nothing(world: World) -> None:
    number, first = world.open()
    world.review(number, "alice")
    approved = world.forge.request(number)

    world.push_head(b"digest: sha256:dd\n")
    moved = world.forge.request(number)

    assert list(approved.approvals()) == ["@alice"]
    assert [(r.reviewer, r.state, r.commit) for r in moved.reviews] == [
        ("@alice", "approved", first)
    ]
    assert moved.approvals() == {}


# -- merge and close ----------------------------------------------------------------------


def test_merge_waits_for_a_code_owner_when_protection_requires_one(world: World) -> None:
    world.sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)
    number, head = world.open()
    world.review(number, "bob")  # approves, but owns nothing

    with pytest.raises(MergeRefused, match="Waiting on code owner review"):
        world.forge.merge(number, head, "prod: promote app (#1)\n\nPromotion-Request: 1")
    world.review(number, "alice")  # a member of @acme/prod-owners
    commit = world.forge.merge(number, head, "prod: promote app (#1)\n\nPromotion-Request: 1")
    merged = world.forge.request(number)

    assert world.sim.tip("main") == commit
    assert world.sim.read(commit, PROD) == b"digest: sha256:cc\n"
    assert (merged.state, merged.merged_commit) == ("merged", commit)
    assert merged.merged_at is not None
    assert world.forge.requests() == ()
    assert world.forge.merge(number, head, "again") == commit  # merging twice is a no-op


def test_merge_refuses_a_head_that_moved(world: World) -> None:
    number, old = world.open()
    new = world.push_head(b"digest: sha256:dd\n")

    with pytest.raises(MergeRefused, match="changed since it was planned"):
        world.forge.merge(number, old, "merge")

    assert world.forge.request(number).state == "open"
    assert world.forge.merge(number, new, "merge") == world.sim.tip("main")


def test_close_comments_then_closes_once(world: World) -> None:
    number, head = world.open()

    world.forge.close(number, "superseded by a newer candidate")
    world.forge.close(number, "closing twice changes nothing")

    assert world.forge.request(number).state == "closed"
    assert [c.body for c in world.sim.pull(number).comments] == ["superseded by a newer candidate"]
    assert world.forge.requests() == ()
    with pytest.raises(MergeRefused, match="closed"):
        world.forge.merge(number, head, "merge")


def test_an_unknown_pull_is_reported_by_number(world: World) -> None:
    with pytest.raises(PermanentError, match="#7 does not exist in acme/config"):
        world.forge.request(7)


# -- code-owner enforcement ---------------------------------------------------------------


def test_classic_protection_enforced_for_admins_proves_enforcement(world: World) -> None:
    world.sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)

    found = world.forge_as("root").codeowner_enforcement("main")

    assert found.enforced
    assert "bypass" not in found.reason


def test_classic_protection_an_admin_may_bypass_is_not_enforced(world: World) -> None:
    world.sim.protect("main", require_code_owner_reviews=True, enforce_admins=False)

    found = world.forge_as("root").codeowner_enforcement("main")

    assert not found.enforced  # the daemon, an admin, could merge unreviewed
    assert "turn on 'Do not allow bypassing the above settings'" in found.reason


def test_protection_without_code_owner_reviews_is_not_enough(world: World) -> None:
    world.sim.protect("main", require_code_owner_reviews=False)

    found = world.forge_as("root").codeowner_enforcement("main")

    assert not found.enforced
    assert "Require review from Code Owners" in found.reason


def test_an_active_ruleset_proves_enforcement_without_admin_rights(world: World) -> None:
    ruleset = world.sim.add_ruleset("prod reviews", require_code_owner_review=True)

    found = world.forge.codeowner_enforcement("main")

    assert found.enforced
    assert f"ruleset {ruleset}" in found.reason


@pytest.mark.parametrize("enforcement", ["evaluate", "disabled"])
def test_a_ruleset_not_enforced_proves_nothing(world: World, enforcement: str) -> None:
    world.sim.add_ruleset("trial", require_code_owner_review=True, enforcement=enforcement)  # type: ignore[arg-type]

    assert not world.forge_as("root").codeowner_enforcement("main").enforced


def test_an_unprotected_branch_says_what_to_turn_on(world: World) -> None:
    found = world.forge_as("root").codeowner_enforcement("main")

    assert not found.enforced
    assert found.reason.startswith("main is not protected and no active ruleset requires")


@pytest.mark.parametrize("hidden", ["not an admin", "hidden from admins"])
def test_protection_it_cannot_read_is_not_enforcement(world: World, hidden: str) -> None:
    world.sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)
    login = "reconciler"
    if hidden == "hidden from admins":
        world.sim.faults.hide_protection = True
        login = "root"

    found = world.forge_as(login).codeowner_enforcement("main")

    assert not found.enforced
    assert "cannot read the branch protection of main (GitHub answered 404)" in found.reason
    assert "'Administration: read'" in found.reason


def test_codeowners_errors_name_the_line(world: World) -> None:
    world.sim.commit("main", {".github/CODEOWNERS": CODEOWNERS + b"/docs/ @ghost\n"})

    errors = world.forge.codeowners_errors("main")

    assert errors == (
        ".github/CODEOWNERS:2:8: Unknown owner: make sure @ghost exists and has write access "
        "to the repository",
    )


def test_team_members_or_none_when_unknown(world: World) -> None:
    assert world.forge.members("@acme/prod-owners") == frozenset({"@alice"})
    assert world.forge.members("@Acme/Prod-Owners") == frozenset({"@alice"})  # any case
    assert world.forge.members("@acme/nobody") is None


# -- seen live ------------------------------------------------------------------------------


def test_a_merged_promotion_awaits_live_until_recorded_once(world: World) -> None:
    number, head = world.open()
    world.review(number, "alice")
    commit = world.forge.merge(number, head, "merge")
    waiting = world.forge.awaiting_live()
    first = world.forge.request(number).merged_at
    assert first is not None

    world.forge.record_live(number, first)
    world.forge.record_live(number, first)  # the first time is kept

    assert [r.number for r in waiting] == [number]
    assert world.forge.awaiting_live() == ()
    deployments = list(world.sim.world.deployments.values())
    assert [(d.sha, d.environment) for d in deployments] == [(commit, "prod")]
    assert deployments[0].payload == {"request": number, "digest": CC, "app": "app"}
    # in_progress when merged, success once seen live (earlier deployments go inactive)
    assert [s.state for s in deployments[0].statuses] == ["in_progress", "success"]


@pytest.mark.parametrize(
    ("inferred", "description"),
    [
        (False, "live since 2026-11-26T09:00:00+00:00"),
        (True, f"live since 2026-11-26T09:00:00+00:00 {INFERRED_NOTE}"),
    ],
)
def test_a_live_time_inferred_from_the_merge_says_so_in_the_status(
    world: World, inferred: bool, description: str
) -> None:
    number, head = world.open()
    world.review(number, "alice")
    world.forge.merge(number, head, "merge")

    world.forge.record_live(number, datetime(2026, 11, 26, 9, 0, tzinfo=UTC), inferred=inferred)

    (deployment,) = world.sim.world.deployments.values()
    assert [s.description for s in deployment.statuses] == ["merged", description]


def test_two_replicas_creating_the_deployment_at_once_leave_one(world: World) -> None:
    """The merging replica and one recording the merge live both find no deployment and
    both create one (GitHub has no create-if-absent; seen under load in the process test).
    The later one sees the earlier one after creating its own, makes its own inactive and
    deletes it, as GitHub allows: one deployment per merge, the earlier one."""
    number, head = world.open()
    world.review(number, "alice")
    sim = world.sim.world
    other: list[int] = []

    def replica_first(method: str, path: str) -> bool:
        if method == "POST" and path.endswith("/deployments") and not other:
            # Another replica's create lands just before ours.
            (pull,) = [p for p in sim.pulls.values() if p.number == number]
            with sim.lock:
                other.append(sim.next_id())
                sim.deployments[other[0]] = Deployment(
                    id=other[0], sha=str(pull.merge_commit_sha), ref=str(pull.merge_commit_sha),
                    task=DEPLOY_TASK, environment="prod", description="promotion",
                    payload={"request": number}, creator="reconciler", created_at=sim.clock(),
                    transient_environment=False, production_environment=False,
                )  # fmt: skip
        return True

    sim.faults.pause = replica_first
    commit = world.forge.merge(number, head, "merge")
    sim.faults.pause = None
    world.forge.record_live(number, datetime(2026, 11, 26, 9, 0, tzinfo=UTC))

    assert other, "the race was not staged"
    (deployment,) = sim.deployments.values()
    assert (deployment.id, deployment.sha) == (other[0], commit)
    assert [s.state for s in deployment.statuses] == ["in_progress", "success"]


# -- HTTP behaviour -----------------------------------------------------------------------


def test_an_unchanged_poll_costs_no_rate_limit(world: World) -> None:
    number, _ = world.open()
    world.review(number, "alice")
    polled = world.forge.requests()
    world.sim.reset_counters()
    before = world.remaining[-1]
    # Time passes between polls: nothing in an answer may depend on when it is given.
    later = world.sim.world.clock() + timedelta(minutes=2)
    world.sim.world.clock = lambda: later

    again = world.forge.requests()
    statuses = [e.status for e in world.sim.exchanges]
    after = world.remaining[-1]
    world.review(number, "bob", "COMMENT")  # a new review: the next poll sees it
    changed = world.forge.requests()

    assert again == polled
    assert statuses
    assert set(statuses) == {304}
    assert after == before
    assert len(changed[0].reviews) == 2


def charged(world: World) -> int:
    """Requests counted so far against the daemon's primary rate limit (304s are free)."""
    return world.sim.world.bucket("reconciler").used


def open_promotions(world: World, count: int, reviewers: tuple[str, ...]) -> list[int]:
    """What a cycle's applier does for ``count`` promotions: open, label, ask reviewers."""
    numbers = []
    for i in range(count):
        branch = f"promote/prod/app{i}"
        world.push_head(branch=branch)
        opened = world.forge.open(branch, "main", f"prod: promote app{i}", BODY, ("promotion",))
        world.forge.request_reviews(opened.number, reviewers)
        numbers.append(opened.number)
    return numbers


def test_a_promotion_costs_four_requests_and_its_cycle_one_more(world: World) -> None:
    world.forge.requests()  # the poll of an earlier cycle: its answers are cached
    world.sim.reset_counters()
    before = charged(world)

    # @bob is no code owner, so GitHub did not ask him when the pull opened: one more write.
    numbers = open_promotions(world, 3, ("@bob", "@acme/prod-owners"))
    polled = world.forge.requests()  # the next cycle reads them: their reviews, once
    spent = charged(world) - before
    world.forge.requests()  # and the cycle after that is idle
    idle = charged(world) - before - spent

    costly = Counter(e.operation for e in world.sim.exchanges if e.status != 304)
    assert spent == 4 * 3 + 1  # four per promotion, one per cycle: the changed list
    assert costly == {
        "POST /repos/{owner}/{repo}/pulls": 3,
        "POST /repos/{owner}/{repo}/issues/{issue_number}/labels": 3,
        "POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers": 3,
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews": 3,
        "GET /repos/{owner}/{repo}/pulls": 1,
    }
    assert idle == 0
    assert [r.number for r in polled] == numbers
    for request in polled:
        assert request.labels == ("promotion",)
        assert request.requested_reviewers == ("@acme/prod-owners", "@bob", "@lead")


def test_reviewers_github_already_asks_are_not_asked_again(world: World) -> None:
    world.sim.reset_counters()
    before = charged(world)

    # CODEOWNERS names them: GitHub asked them when the pull opened, and said so.
    (number,) = open_promotions(world, 1, ("@acme/prod-owners", "@lead", "@reconciler"))

    assert charged(world) - before == 2  # create and label
    assert "POST" not in {e.method for e in world.sim.exchanges[2:]}
    assert world.forge.request(number).requested_reviewers == ("@acme/prod-owners", "@lead")


def test_reviews_asked_after_an_edit_need_no_read(world: World) -> None:
    number, _ = world.open()
    world.push_head(b"digest: sha256:dd\n")
    world.forge.requests()  # the poll that planned the update: its reviews are cached
    world.sim.reset_counters()

    world.forge.update(number, "prod: promote app dd", "new body", "a newer candidate")
    world.forge.request_reviews(number, ("@acme/prod-owners", "@bob"))

    assert [e.operation for e in world.sim.exchanges if e.status != 304] == [
        "PATCH /repos/{owner}/{repo}/pulls/{pull_number}",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers",
    ]
    assert world.sim.pull(number).requested_reviewers == ["lead", "bob"]


def test_every_request_is_reported_with_its_status(world: World) -> None:
    world.sim.reset_counters()
    world.seen.clear()

    number, _ = world.open()
    world.forge.request_reviews(number, ("@bob",))
    world.forge.requests()
    world.forge.requests()
    with pytest.raises(PermanentError):
        world.forge.request(99)

    assert world.seen == [(e.method, e.status) for e in world.sim.exchanges]
    assert world.remaining[-1] == float(world.sim.world.bucket("reconciler").limit) - float(
        world.sim.world.bucket("reconciler").used
    )


def test_a_secondary_rate_limit_waits_its_retry_after(world: World) -> None:
    world.open()
    world.sim.faults.secondary_limit(1, retry_after=17)
    world.seen.clear()

    listed = world.forge.requests()

    assert [r.head_branch for r in listed] == [HEAD]
    assert world.slept == [17.0]
    assert world.seen[0] == ("GET", 403)


def test_server_errors_are_retried_with_backoff(world: World) -> None:
    world.open()
    world.sim.faults.fail_next(3, status=502)
    world.seen.clear()

    listed = world.forge.requests()

    assert [r.head_branch for r in listed] == [HEAD]
    assert world.seen[:4] == [("GET", 502)] * 3 + [("GET", 200)]
    assert len(world.slept) >= 2
    assert all(s > 0 for s in world.slept)


def test_server_errors_past_the_retries_are_transient(world: World) -> None:
    forge = world.forge_as("reconciler", retries=1)
    world.sim.faults.fail_next(2, status=503)

    with pytest.raises(TransientError, match="GitHub answered 503"):
        forge.requests()
    assert forge.requests() == ()


@pytest.mark.parametrize("status", [403, 429])  # GitHub answers a spent limit with either
def test_a_spent_primary_limit_is_rate_limited_until_its_reset_and_not_asked_again(
    world: World, status: int
) -> None:
    world.sim.set_rate_limit("reconciler", limit=1, used=1, status=status)
    resets = world.sim.rate_limit_reset("reconciler")
    world.sim.reset_counters()

    with pytest.raises(RateLimited) as first:
        world.forge.requests()
    refused = [(e.method, e.status) for e in world.sim.exchanges]
    with pytest.raises(RateLimited) as again:
        world.forge.request(1)
    with pytest.raises(RateLimited):
        world.forge.open(HEAD, "main", "prod: promote app", BODY, ("promotion",))

    assert refused == [("GET", status)]  # neither retried nor waited for in the request
    assert len(world.sim.exchanges) == 1  # nothing sent after it
    assert world.slept == []
    assert first.value.until == again.value.until == resets
    assert resets > utc_now() + timedelta(minutes=59)  # the simulator's hour-long window
    assert isinstance(first.value, TransientError)
    assert first.value.service == "GitHub"
    assert str(first.value) == (
        "could not list the open pull requests: GitHub's rate limit is spent until "
        f"{resets:%Y-%m-%dT%H:%M:%SZ}, sending nothing before"
    )


def test_the_last_request_a_limit_allows_stops_the_next_one(world: World) -> None:
    world.sim.set_rate_limit("reconciler", limit=2, used=1)
    world.sim.reset_counters()

    assert world.forge.requests() == ()  # answered 200 with X-RateLimit-Remaining: 0
    with pytest.raises(RateLimited) as caught:
        world.forge.request(1)

    assert [e.status for e in world.sim.exchanges] == [200]
    assert caught.value.until == world.sim.rate_limit_reset("reconciler")


def test_requests_flow_again_once_the_limit_resets(tmp_path: Path) -> None:
    now = [T0]  # one clock for the simulator and the client
    with serve_github(tmp_path / "c.git", clock=lambda: now[0]) as sim:
        token = sim.add_user("reconciler")
        sim.set_rate_limit("reconciler", limit=1, used=1)
        resets = sim.rate_limit_reset("reconciler")
        client = Client(
            "acme",
            "config",
            token=token,
            base_url=sim.url,
            on_request=None,
            on_rate_limit=None,
            sleep=lambda _: None,
            retries=4,
            max_wait=300.0,
            timeout=30,
            clock=lambda: now[0],
        )

        def ask() -> object:
            with client.guard("list the open pull requests"):
                return client.get(f"{client.api}/pulls", {"state": "open"})

        with pytest.raises(RateLimited) as caught:
            ask()
        now[0] = resets - timedelta(seconds=1)
        with pytest.raises(RateLimited):
            ask()
        sent_while_spent = [e.status for e in sim.exchanges]
        now[0] = resets
        answered = ask()
        statuses = [e.status for e in sim.exchanges]

    assert caught.value.until == resets == T0 + timedelta(hours=1)
    assert sent_while_spent == [403]
    assert answered == []
    assert statuses == [403, 200]


def test_a_secondary_limit_answered_429_waits_its_retry_after(world: World) -> None:
    world.open()
    world.sim.faults.secondary_limit(1, retry_after=17, status=429)
    world.seen.clear()

    listed = world.forge.requests()

    assert [r.head_branch for r in listed] == [HEAD]
    assert world.slept == [17.0]
    assert world.seen[:2] == [("GET", 429), ("GET", 200)]


def test_a_secondary_limit_past_the_retries_is_waited_for_without_asking(world: World) -> None:
    forge = world.forge_as("reconciler", retries=1)
    world.sim.faults.secondary_limit(2, retry_after=30)
    world.sim.reset_counters()

    before = utc_now()
    with pytest.raises(RateLimited) as caught:
        forge.requests()
    after = utc_now()
    with pytest.raises(RateLimited):
        forge.requests()

    assert [e.status for e in world.sim.exchanges] == [403, 403]  # the retry, then no more
    assert world.slept == [30.0]
    wait = timedelta(seconds=30)
    assert before + wait <= caught.value.until <= after + wait


def test_every_request_names_the_api_version_and_media_type(world: World) -> None:
    world.sim.reset_counters()
    number, head = world.open()
    world.forge.request_reviews(number, ("@bob",))
    world.forge.requests()
    world.forge.request(number)
    world.forge.members("@acme/prod-owners")
    world.review(number, "alice")  # PyGithub as a person: not the forge
    world.forge.merge(number, head, "merge")
    world.forge.record_live(number, T0)
    world.forge.awaiting_live()

    ours = [e for e in world.sim.exchanges if e.login == "reconciler"]
    assert len(ours) >= 10
    said = {(e.accept, e.api_version, e.user_agent) for e in ours}
    assert said == {("application/vnd.github+json", API_VERSION, USER_AGENT)}
    assert all(e.versioned for e in ours)
    assert not any(e.versioned for e in world.sim.exchanges if e.login == "alice")


def test_the_app_token_endpoint_names_them_too(sim: GitHubSim) -> None:
    status, _ = AppTokenEndpoint(sim.url)(Secret("not.a.jwt"), 1)

    (exchange,) = sim.exchanges
    assert status == 401
    assert exchange.operation == "POST /app/installations/{installation_id}/access_tokens"
    assert (exchange.accept, exchange.api_version, exchange.user_agent) == (
        "application/vnd.github+json",
        API_VERSION,
        USER_AGENT,
    )


def test_the_token_never_shows(world: World) -> None:
    token = "ghp_" + "s3cret" * 6
    forge = GitHubForge("acme/config", base_url=world.sim.url, token=token)

    with pytest.raises(PermanentError) as caught:
        forge.requests()

    assert "rejected the token" in str(caught.value)
    assert token not in str(caught.value)
    assert token not in repr(forge)


def test_a_rollback_by_hand_fails_the_deployment_once(world: World) -> None:
    number, head = world.open()
    world.review(number, "alice")
    world.forge.merge(number, head, "merge")
    world.forge.record_live(number, datetime(2026, 11, 26, 9, 0, tzinfo=UTC))

    assert world.forge.record_rollback("prod", "app", CC, "0123456789abcdef") is True
    assert world.forge.record_rollback("prod", "app", CC, "0123456789abcdef") is False
    assert world.forge.record_rollback("prod", "app", "sha256:other", "0123") is False

    (deployment,) = world.sim.world.deployments.values()
    assert [s.state for s in deployment.statuses] == ["in_progress", "success", "failure"]
    assert deployment.statuses[-1].description == "app rolled back by hand in 0123456789ab"


def test_github_timeout_from_the_settings_gives_up_on_a_late_answer_and_asks_again(
    sim: GitHubSim, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text(sim.add_user("reconciler") + "\n")
    settings = Settings(
        repo=str(sim.git_path),
        forge="github",
        github_repo="acme/config",
        github_url=sim.url,
        github_token_file=tmp_path / "token",
        github_timeout=1,
    )
    forge = wiring.github_forge(settings, utc_now, Metrics())
    sim.faults.time_out(1, 3.0)  # the first answer comes 3s late; the default waits 30s
    assert forge.requests() == ()
    assert sim.counts["GET /repos/{owner}/{repo}/pulls"] == 2
    exchanges = [e.status for e in sim.exchanges if e.path.endswith("/pulls")]
    assert exchanges == [200, 200]  # both answered: the first only too late for the client


# -- production_environment (issue 17, item 7) ----------------------------------------------

# dev -> staging -> prod: prod ends the chain, so it is production; staging is not.
CHAIN_POLICY = b"""\
version = 1

[apps.app]
image = "registry.example.com/team/app"

[environments.dev]
overlay = "overlays/dev/{app}"

[environments.staging]
follows = "dev"
overlay = "overlays/staging/{app}"

[environments.prod]
follows = "staging"
overlay = "overlays/prod/{app}"
"""
STAGING_HEAD = "promote/staging/app"
STAGING_BODY = "the table\n" + Marker("app", "staging", "dev", CC, "abc").render()


def chain_policy() -> Policy:
    policy = load_policy(CHAIN_POLICY).policy
    assert policy is not None
    return policy


def merge_promotion(forge: GitHubForge, world: World, branch: str, path: str, body: str) -> str:
    head = world.sim.commit(branch, {path: b"digest: sha256:cc\n"}, parent=world.sim.tip("main"))
    number = forge.open(branch, "main", f"promote {branch}", body, ()).number
    return forge.merge(number, head, "merge")


def deployment_of(world: World, commit: str) -> Deployment:
    (deployment,) = [d for d in world.sim.world.deployments.values() if d.sha == commit]
    return deployment


def test_a_prod_deployment_is_production_and_a_staging_one_is_not(world: World) -> None:
    forge = GitHubForge(
        "acme/config", base_url=world.sim.url, token=world.tokens["reconciler"],
        production=chain_policy().is_production, sleep=world.slept.append,
    )  # fmt: skip

    prod = merge_promotion(forge, world, HEAD, PROD, BODY)
    staging = merge_promotion(forge, world, STAGING_HEAD, STAGING, STAGING_BODY)

    shown = [deployment_of(world, commit) for commit in (prod, staging)]
    assert [(d.environment, d.production_environment) for d in shown] == [
        ("prod", True),
        ("staging", False),
    ]


def test_a_merge_by_a_person_is_recorded_live_as_production(world: World) -> None:
    """With merge_when_approved off a person merges prod on GitHub: the deployment is then
    created when the digest is first seen live, and it is production too."""
    forge = GitHubForge(
        "acme/config", base_url=world.sim.url, token=world.tokens["reconciler"],
        production=chain_policy().is_production, sleep=world.slept.append,
    )  # fmt: skip
    number, _ = world.open()
    gh = github.Github(
        base_url=world.sim.url,
        auth=Auth.Token(world.tokens["root"]),
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    gh.get_repo("acme/config").get_pull(number).merge(merge_method="merge")
    commit = str(world.sim.pull(number).merge_commit_sha)

    forge.record_live(number, T0)

    deployment = deployment_of(world, commit)
    assert (deployment.environment, deployment.production_environment) == ("prod", True)
    assert [s.state for s in deployment.statuses] == ["success"]


def test_the_wired_forge_follows_the_policy_in_force(world: World, tmp_path: Path) -> None:
    """Built before any policy is read, the forge asks the policy the cycle read: nothing
    is production before the first cycle, prod after it."""
    world.sim.commit(
        "main",
        {"promotions.toml": CHAIN_POLICY, "overlays/dev/app/kustomization.yaml": b"{}\n"},
        parent=world.sim.tip("main"),
    )
    (tmp_path / "token").write_text(world.tokens["reconciler"] + "\n")
    settings = Settings(
        repo=str(world.sim.git_path), forge="github", github_repo="acme/config",
        github_url=world.sim.url, github_token_file=tmp_path / "token",
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    prepared = wiring.prepare(settings)
    assert not prepared.in_force.is_production("prod")  # no policy read yet

    wired = wiring.connect(prepared)
    assert wired.runner.cycle().observation.policy_valid
    assert isinstance(wired.forge, GitHubForge)
    commit = merge_promotion(wired.forge, world, HEAD, PROD, BODY)

    assert deployment_of(world, commit).production_environment is True
