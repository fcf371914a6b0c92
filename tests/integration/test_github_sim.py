"""The GitHub API simulator, driven by PyGithub over real HTTP on loopback.

The simulator checks every response it sends against GitHub's OpenAPI description (the
vendored subset); the ``sim`` fixture fails a test whose responses did not all fit. The
bare repository behind it is real: pushes land in it and merges are git merges.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import github
import pygit2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth
from github.NamedUser import NamedUser
from github.PaginatedList import PaginatedList
from github.PullRequest import PullRequest
from github.PullRequestReview import PullRequestReview
from github.Repository import Repository

from tests.contract.gitcli import GitCli
from tests.servers.github_sim import GitHubSim, serve_github, webhooks
from tests.servers.github_sim.openapi import OpenApi, description

DATA = Path(__file__).resolve().parents[1] / "data" / "github"
HEAD = "promote/prod/app"
PROD = "overlays/prod/app/kustomization.yaml"
STAGING = "overlays/staging/app/kustomization.yaml"
CODEOWNERS = b"""\
# prod needs the prod owners; staging needs bob
/overlays/prod/ @acme/prod-owners
/overlays/staging/ @bob
"""
OWNER_WAIT = "Waiting on code owner review from acme/prod-owners."


def client(sim: GitHubSim, auth: Auth.Auth | None = None, retry: Any = None) -> github.Github:
    """PyGithub on the simulator, without its pauses between calls (pointless on loopback)."""
    return github.Github(
        base_url=sim.url,
        auth=auth,
        retry=retry,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


def app_client(sim: GitHubSim, auth: Auth.AppAuth) -> github.GithubIntegration:
    """PyGithub's GitHub App client on the simulator."""
    return github.GithubIntegration(
        auth=auth, base_url=sim.url, seconds_between_requests=0, seconds_between_writes=0
    )


class World:
    """A running simulator with the accounts every test uses, and clients for them."""

    def __init__(self, sim: GitHubSim) -> None:
        self.sim = sim
        self.tokens = {
            "bot": sim.add_user("bot"),
            "alice": sim.add_user("alice", email="alice@example.com"),
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

    def gh(self, login: str = "bot", retry: Any = None) -> github.Github:
        return client(self.sim, Auth.Token(self.tokens[login]), retry)

    def repo(self, login: str = "bot") -> Repository:
        return self.gh(login).get_repo("acme/config")

    def push_head(self, content: bytes = b"digest: sha256:cc\n", branch: str = HEAD) -> str:
        parent = self.sim.tip(branch) or self.base
        return self.sim.commit(branch, {PROD: content}, parent=parent)

    def open(self, login: str = "bot", branch: str = HEAD) -> PullRequest:
        if self.sim.tip(branch) is None:
            self.push_head(branch=branch)
        return self.repo(login).create_pull(base="main", head=branch, title="prod: app", body="b")

    def approve(self, number: int, login: str) -> PullRequestReview:
        return self.repo(login).get_pull(number).create_review(event="APPROVE")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GitHubSim]:
    with serve_github(tmp_path / "config.git") as running:
        yield running


@pytest.fixture
def world(sim: GitHubSim) -> World:
    return World(sim)


def refusal(call: Callable[[], object]) -> tuple[int, str]:
    """The status and message of the GithubException ``call`` raises."""
    with pytest.raises(github.GithubException) as caught:
        call()
    return caught.value.status, caught.value.data["message"]


# -- pull requests ------------------------------------------------------------------------


def test_a_pull_request_shows_its_head_branch_tip(world: World) -> None:
    head = world.push_head()

    pull = world.open()

    assert (pull.number, pull.state, pull.head.ref, pull.base.ref) == (1, "open", HEAD, "main")
    assert pull.head.sha == head
    listed = world.repo().get_pulls(state="open", head=f"acme:{HEAD}", base="main")
    assert [p.number for p in listed] == [1]


def test_one_open_pull_per_head_and_base(world: World) -> None:
    world.open()
    world.sim.commit("release", {"x": b"1\n"}, parent=world.base)

    with pytest.raises(github.GithubException) as caught:
        world.open()
    other_base = world.repo().create_pull(base="release", head=HEAD, title="t", body="")

    assert caught.value.status == 422
    assert (
        caught.value.data["errors"][0]["message"]
        == f"A pull request already exists for acme:{HEAD}."
    )
    assert other_base.number == 2


def test_a_pull_without_commits_is_refused(world: World) -> None:
    world.sim.set_branch("empty", world.base)

    with pytest.raises(github.GithubException) as caught:
        world.repo().create_pull(base="main", head="empty", title="t")

    assert caught.value.status == 422
    assert caught.value.data["errors"][0]["message"] == "No commits between main and empty"


def test_reviews_are_bound_to_the_commit_they_were_given_on(world: World, tmp_path: Path) -> None:
    first = world.push_head()
    pull = world.open()
    world.approve(pull.number, "alice")
    git = GitCli(tmp_path / "home")
    work = tmp_path / "work"
    git("clone", "-q", "--branch", HEAD, str(world.sim.git_path), str(work))
    second = git.commit_file(work, PROD, "digest: sha256:dd\n", "newer candidate")
    git("push", "-q", "origin", f"HEAD:refs/heads/{HEAD}", cwd=work)

    world.approve(pull.number, "bob")
    reviews = [(r.user.login, r.commit_id) for r in world.repo().get_pull(1).get_reviews()]

    assert world.repo().get_pull(pull.number).head.sha == second != first
    assert reviews == [("alice", first), ("bob", second)]


def test_opening_a_pull_asks_the_code_owners_of_its_changes(world: World) -> None:
    for branch in ("promote/staging/app", "promote/staging/by-bob"):
        world.sim.commit(branch, {STAGING: b"digest: sha256:ee\n"}, parent=world.base)

    prod = world.open()
    staging = world.open(branch="promote/staging/app")
    by_the_owner = world.open("bob", branch="promote/staging/by-bob")

    assert [t.slug for t in prod.requested_teams] == ["prod-owners"]
    assert [u.login for u in prod.requested_reviewers] == []
    assert [u.login for u in staging.requested_reviewers] == ["bob"]
    assert [u.login for u in by_the_owner.requested_reviewers] == []


def test_code_owners_can_be_asked_after_the_create_answer(world: World) -> None:
    world.sim.faults.code_owners_later = True

    created = world.open()
    world.repo().get_pull(created.number).create_review_request(team_reviewers=["prod-owners"])
    read = world.repo().get_pull(created.number)

    assert [t.slug for t in created.requested_teams] == []  # not asked yet when it answered
    assert [t.slug for t in read.requested_teams] == ["prod-owners"]  # asked once


def test_deleting_the_head_branch_closes_the_pull(world: World) -> None:
    pull = world.open()

    world.sim.set_branch(HEAD, None)

    closed = world.repo().get_pull(pull.number)
    assert (closed.state, closed.merged) == ("closed", False)


def test_a_request_body_that_does_not_fit_is_refused_as_github_does(world: World) -> None:
    world.push_head()
    gh = world.gh()

    status, _, body = gh.requester.requestJson(
        "POST", "/repos/acme/config/pulls", input={"title": 7, "head": HEAD, "base": "main"}
    )

    assert status == 422
    assert json.loads(body)["message"].startswith("Invalid request.")
    assert world.sim.invalid_requests == 1
    assert world.sim.counts["POST /repos/{owner}/{repo}/pulls"] == 1


def test_an_author_cannot_approve_their_own_pull(world: World) -> None:
    pull = world.open("alice")

    status, _ = refusal(lambda: world.approve(pull.number, "alice"))

    assert status == 422


# -- merging ------------------------------------------------------------------------------


def test_merge_waits_for_a_code_owner_approval_on_the_head(world: World) -> None:
    world.sim.protect("main", require_code_owner_reviews=True)
    head = world.push_head()
    pull = world.open()

    before = refusal(lambda: pull.merge(sha=head))
    world.approve(pull.number, "bob")  # approves, but owns nothing under overlays/prod
    with_other = refusal(lambda: pull.merge(sha=head))
    world.approve(pull.number, "alice")
    merged = pull.merge(sha=head, merge_method="merge")

    assert before == (405, OWNER_WAIT)
    assert with_other == (405, OWNER_WAIT)
    repo = pygit2.Repository(str(world.sim.git_path))
    tip = repo.revparse_single("main").peel(pygit2.Commit)
    assert merged.merged
    assert str(tip.id) == merged.sha
    assert [str(p) for p in tip.parent_ids] == [world.base, head]
    assert world.repo().get_pull(pull.number).merged


def test_owner_of_staging_is_named_for_a_staging_change(world: World) -> None:
    world.sim.protect("main", require_code_owner_reviews=True)
    world.sim.commit("promote/staging/app", {STAGING: b"digest: sha256:ee\n"}, parent=world.base)
    pull = world.open(branch="promote/staging/app")

    assert refusal(pull.merge) == (405, "Waiting on code owner review from bob.")


@pytest.mark.parametrize(
    ("required", "message"),
    [
        (1, "At least 1 approving review is required by reviewers with write access."),
        (2, "At least 2 approving reviews are required by reviewers with write access."),
    ],
)
def test_merge_waits_for_the_required_number_of_approvals(
    world: World, required: int, message: str
) -> None:
    world.sim.protect("main", required_approving_review_count=required)
    pull = world.open()
    refused = refusal(pull.merge)
    for login in ("alice", "bob")[:required]:
        world.approve(pull.number, login)

    assert refused == (405, message)
    assert pull.merge().merged


@pytest.mark.parametrize("dismiss", [True, False])
def test_a_push_dismisses_stale_approvals_only_when_configured(world: World, dismiss: bool) -> None:
    world.sim.protect("main", require_code_owner_reviews=True, dismiss_stale_reviews=dismiss)
    pull = world.open()
    world.approve(pull.number, "alice")
    newer = world.push_head(b"digest: sha256:dd\n")

    states = [r.state for r in world.repo().get_pull(pull.number).get_reviews()]

    if dismiss:
        assert states == ["DISMISSED"]
        assert refusal(lambda: pull.merge(sha=newer)) == (405, OWNER_WAIT)
    else:  # GitHub keeps counting an approval of an older head: the daemon must check commits
        assert states == ["APPROVED"]
        assert pull.merge(sha=newer).merged


def test_a_ruleset_can_require_the_code_owner_review(world: World) -> None:
    ruleset = world.sim.add_ruleset("prod", require_code_owner_review=True)
    pull = world.open()
    gh = world.gh()

    refused = refusal(pull.merge)
    _, rules = gh.requester.requestJsonAndCheck("GET", "/repos/acme/config/rules/branches/main")
    _, summary = gh.requester.requestJsonAndCheck("GET", "/repos/acme/config/rulesets")
    _, full = gh.requester.requestJsonAndCheck("GET", f"/repos/acme/config/rulesets/{ruleset}")
    world.approve(pull.number, "alice")

    assert refused == (405, f"Repository rule violations found\n\n{OWNER_WAIT}\n\n")
    assert [(r["type"], r["ruleset_id"]) for r in rules] == [("pull_request", ruleset)]
    assert rules[0]["parameters"]["require_code_owner_review"] is True
    assert [r["id"] for r in summary] == [ruleset]
    assert full["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
    assert pull.merge().merged


@pytest.mark.parametrize("enforcement", ["disabled", "evaluate"])
def test_a_ruleset_not_enforced_requires_nothing(world: World, enforcement: Any) -> None:
    world.sim.add_ruleset("prod", require_code_owner_review=True, enforcement=enforcement)
    pull = world.open()
    gh = world.gh()

    _, rules = gh.requester.requestJsonAndCheck("GET", "/repos/acme/config/rules/branches/main")

    assert rules == []
    assert pull.merge().merged


def test_a_merge_expecting_an_older_head_is_refused(world: World) -> None:
    old = world.push_head()
    pull = world.open()
    world.push_head(b"digest: sha256:dd\n")

    refused = refusal(lambda: pull.merge(sha=old))

    assert refused == (409, "Head branch was modified. Review and try the merge again.")


def test_a_squash_merge_is_one_commit_on_the_base(world: World) -> None:
    pull = world.open()

    merged = pull.merge(merge_method="squash", commit_title="prod: app")

    commit = pygit2.Repository(str(world.sim.git_path))[merged.sha].peel(pygit2.Commit)
    assert [str(p) for p in commit.parent_ids] == [world.base]
    assert commit.message.startswith("prod: app")
    assert world.sim.read(merged.sha, PROD) == b"digest: sha256:cc\n"


def test_a_conflicting_pull_is_not_mergeable(world: World) -> None:
    pull = world.open()
    world.sim.commit("main", {PROD: b"digest: sha256:ff\n"})

    fresh = world.repo().get_pull(pull.number)

    assert (fresh.mergeable, fresh.mergeable_state) == (False, "dirty")
    assert refusal(fresh.merge) == (405, "Pull Request is not mergeable")


def test_mergeability_can_be_still_unknown(world: World) -> None:
    pull = world.open()
    world.sim.faults.mergeable_unknown = 1

    first, second = world.repo().get_pull(pull.number), world.repo().get_pull(pull.number)

    assert (first.raw_data["mergeable"], first.raw_data["mergeable_state"]) == (None, "unknown")
    assert (second.raw_data["mergeable"], second.raw_data["mergeable_state"]) == (True, "clean")


def test_an_admin_merges_past_protection_unless_enforced_for_admins(world: World) -> None:
    world.sim.protect("main", require_code_owner_reviews=True)
    pull = world.open()
    as_admin = world.repo("root").get_pull(pull.number)

    assert as_admin.mergeable_state == "blocked"
    assert as_admin.merge().merged
    main = world.sim.tip("main")
    world.sim.commit("promote/prod/other", {PROD: b"digest: sha256:dd\n"}, parent=main)
    world.sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)
    other = world.open("bot", branch="promote/prod/other")
    assert refusal(world.repo("root").get_pull(other.number).merge) == (405, OWNER_WAIT)


# -- the conversation ---------------------------------------------------------------------


def test_labels_comments_and_review_requests(world: World) -> None:
    pull = world.open()

    pull.add_to_labels("promotion", "promotion-hold")
    pull.remove_from_labels("promotion-hold")
    pull.create_issue_comment("newer candidate: sha256:dd")
    pull.create_review_request(reviewers=["bob"], team_reviewers=["prod-owners"])
    requested = world.repo().get_pull(pull.number)
    asked_users, asked_teams = requested.get_review_requests()
    users, teams = [u.login for u in asked_users], [t.slug for t in asked_teams]
    world.repo("bob").get_pull(pull.number).create_review(event="COMMENT", body="looks fine")

    assert [label.name for label in world.repo().get_pull(pull.number).get_labels()] == [
        "promotion"
    ]
    assert [c.body for c in pull.get_issue_comments()] == ["newer candidate: sha256:dd"]
    assert (users, teams) == (["bob"], ["prod-owners"])
    assert [u.login for u in world.repo().get_pull(pull.number).requested_reviewers] == []
    status, message = refusal(lambda: pull.create_review_request(reviewers=["bot"]))
    assert (status, message) == (422, "Review cannot be requested from pull request author.")


# -- HTTP behaviour: ETags, rate limits, faults --------------------------------------------


def test_a_conditional_get_answers_304_without_spending_the_rate_limit(world: World) -> None:
    gh = world.gh()
    pull = gh.get_repo("acme/config").get_pull(world.open().number)
    remaining = gh.rate_limiting[0]

    unchanged = pull.update()
    after_304 = gh.rate_limiting[0]
    pull.create_issue_comment("touch")  # changes the pull's updated_at
    changed = pull.update()

    assert unchanged is False
    assert after_304 == remaining
    assert changed is True
    assert [e.status for e in world.sim.exchanges][-3:] == [304, 201, 200]


def test_rate_limit_headers_count_down_to_a_403(world: World) -> None:
    world.sim.set_rate_limit("bot", limit=3)
    gh = world.gh()

    seen = []
    for _ in range(3):
        headers, _ = gh.requester.requestJsonAndCheck("GET", "/repos/acme/config")
        seen.append((headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"]))
    with pytest.raises(github.RateLimitExceededException) as caught:
        gh.get_repo("acme/config")
    core = gh.get_rate_limit().resources.core

    assert seen == [("3", "2"), ("3", "1"), ("3", "0")]
    assert caught.value.status == 403
    assert caught.value.data["message"].startswith("API rate limit exceeded for user ID")
    assert (core.limit, core.remaining) == (3, 0)
    assert world.sim.rate_limited == 1


def test_server_errors_are_retried_by_pygithub(world: World) -> None:
    world.sim.reset_counters()
    world.sim.faults.fail_next(2, status=502)

    repo = world.gh(retry=github.GithubRetry()).get_repo("acme/config")

    assert repo.full_name == "acme/config"
    assert [e.status for e in world.sim.exchanges] == [502, 502, 200]


def test_a_server_error_reaches_a_client_without_retries(world: World) -> None:
    world.sim.faults.fail_next(1, status=503)

    status, _ = refusal(lambda: world.gh().get_repo("acme/config"))

    assert status == 503
    assert world.gh().get_repo("acme/config").full_name == "acme/config"


def test_a_secondary_rate_limit_says_when_to_retry(world: World) -> None:
    world.sim.faults.secondary_limit(1, retry_after=60)

    with pytest.raises(github.RateLimitExceededException) as caught:
        world.gh().get_repo("acme/config")

    assert caught.value.status == 403
    assert caught.value.headers is not None
    assert caught.value.headers["retry-after"] == "60"
    assert world.sim.rate_limited == 1
    assert world.gh().get_repo("acme/config").full_name == "acme/config"


def test_pygithub_waits_out_a_secondary_limit_and_retries(world: World) -> None:
    world.sim.reset_counters()
    world.sim.faults.secondary_limit(1, retry_after=0)

    repo = world.gh(retry=github.GithubRetry()).get_repo("acme/config")

    assert repo.full_name == "acme/config"
    assert [e.status for e in world.sim.exchanges] == [403, 200]


@pytest.mark.parametrize(
    ("scheme", "path", "status"),
    [
        (None, "/repos/acme/config", 401),
        ("token ghp_not_a_real_token", "/repos/acme/config", 401),
        ("token BOT", "/repos/acme/config", 200),
        ("Bearer BOT", "/repos/acme/config", 200),
        ("token BOT", "/repos/acme/other", 404),
    ],
)
def test_credentials_and_repository_names_are_checked(
    world: World, scheme: str | None, path: str, status: int
) -> None:
    gh = client(world.sim)
    headers = {"Authorization": scheme.replace("BOT", world.tokens["bot"])} if scheme else {}

    answer, _, _ = gh.requester.requestJson("GET", path, headers=headers)

    assert answer == status


# -- protection, teams, files -------------------------------------------------------------


def test_protection_is_visible_to_admins_only_and_can_be_hidden(world: World) -> None:
    world.sim.protect("main", require_code_owner_reviews=True, dismiss_stale_reviews=True)

    shown = world.repo("root").get_branch("main").get_protection()
    reviews = shown.required_pull_request_reviews
    hidden_from_writer = refusal(lambda: world.repo("bot").get_branch("main").get_protection())
    world.sim.faults.hide_protection = True
    hidden_from_admin = refusal(lambda: world.repo("root").get_branch("main").get_protection())

    assert (reviews.require_code_owner_reviews, reviews.dismiss_stale_reviews) == (True, True)
    assert hidden_from_writer == (404, "Not Found")
    assert hidden_from_admin == (404, "Not Found")


def test_an_unprotected_branch_says_so(world: World) -> None:
    assert refusal(lambda: world.repo("root").get_branch("main").get_protection()) == (
        404,
        "Branch not protected",
    )


def test_team_members_are_paged(world: World) -> None:
    members = tuple(f"user{n:02}" for n in range(35))
    for login in members:
        world.sim.add_user(login)
    world.sim.add_team("many", members)
    gh = world.gh()

    listed = PaginatedList(NamedUser, gh.requester, "/orgs/acme/teams/many/members", None)
    logins = [user.login for user in listed]

    assert logins == list(members)
    assert world.sim.counts["GET /orgs/{org}/teams/{team_slug}/members"] == 2
    missing = refusal(
        lambda: gh.requester.requestJsonAndCheck("GET", "/orgs/acme/teams/nope/members")
    )
    assert missing[0] == 404


def test_files_and_folders_read_at_a_ref(world: World) -> None:
    repo = world.repo()

    owners = repo.get_contents(".github/CODEOWNERS", ref="main")
    folder = repo.get_contents("overlays", ref="main")

    assert not isinstance(owners, list)
    assert owners.decoded_content == CODEOWNERS
    assert isinstance(folder, list)
    assert sorted((c.name, c.type) for c in folder) == [("prod", "dir"), ("staging", "dir")]
    assert refusal(lambda: repo.get_contents("nope.txt", ref="main"))[0] == 404


def test_codeowners_errors_name_the_bad_lines(world: World) -> None:
    world.sim.commit(
        "main",
        {".github/CODEOWNERS": b"/overlays/prod/ @acme/prod-owners\n[ab]/ @alice\n/x @ghost\n"},
    )
    gh = world.gh()

    _, found = gh.requester.requestJsonAndCheck("GET", "/repos/acme/config/codeowners/errors")
    world.sim.commit("bare", {".github/CODEOWNERS": None}, parent=world.base)
    absent, _, _ = gh.requester.requestJson(
        "GET", "/repos/acme/config/codeowners/errors", parameters={"ref": "bare"}
    )

    assert [(e["line"], e["kind"]) for e in found["errors"]] == [
        (2, "Invalid pattern"),
        (3, "Unknown owner"),
    ]
    assert found["errors"][1]["column"] == 4
    assert absent == 404


def test_deployments_and_their_statuses(world: World) -> None:
    repo = world.repo()

    first = repo.create_deployment("main", environment="prod", auto_merge=False)
    first.create_status("in_progress")
    first.create_status("success", environment_url="https://prod.example.com")
    second = repo.create_deployment("main", environment="prod", auto_merge=False)
    second.create_status("success")

    assert first.sha == world.base
    assert [s.state for s in repo.get_deployment(first.id).get_statuses()] == [
        "inactive",
        "success",
        "in_progress",
    ]
    assert [d.id for d in repo.get_deployments(environment="prod")] == [second.id, first.id]
    assert refusal(lambda: repo.create_deployment("no-such-ref"))[0] == 422


# -- GitHub Apps ---------------------------------------------------------------------------


def _key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_an_app_installation_token_acts_as_the_apps_bot(world: World) -> None:
    private, public = _key()
    installation = world.sim.add_app(4242, "reconciler", public)
    app = Auth.AppAuth(4242, private)
    integration = app_client(world.sim, app)

    found = integration.get_repo_installation("acme", "config")
    gh = client(world.sim, app.get_installation_auth(installation))
    world.push_head()
    pull = gh.get_repo("acme/config").create_pull(base="main", head=HEAD, title="t")

    assert found.id == installation
    assert pull.user.login == "reconciler[bot]"


def test_a_jwt_signed_with_another_key_is_refused(world: World) -> None:
    _, public = _key()
    other_private, _ = _key()
    world.sim.add_app(4242, "reconciler", public)
    integration = app_client(world.sim, Auth.AppAuth(4242, other_private))

    status, _ = refusal(lambda: integration.get_repo_installation("acme", "config"))

    assert status == 401


def test_an_app_without_administration_cannot_read_protection(world: World) -> None:
    private, public = _key()
    installation = world.sim.add_app(7, "narrow", public, {"pull_requests": "write"})
    world.sim.protect("main")
    auth = Auth.AppAuth(7, private).get_installation_auth(installation)
    gh = client(world.sim, auth)

    status, message = refusal(
        lambda: gh.get_repo("acme/config").get_branch("main").get_protection()
    )

    assert (status, message) == (403, "Resource not accessible by integration")


# -- the description and the webhook examples ---------------------------------------------


SIMPLE_USER = {"login": "x", "id": 1}


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "problem"),
    [
        ("GET", "/repos/a/b/pulls/1", 200, {"number": 1}, "is a required property"),
        ("GET", "/repos/a/b/pulls/1", 404, {"message": 404}, "is not of type 'string'"),
        ("GET", "/repos/a/b/pulls/1", 201, {}, "status 201 is not documented"),
        ("GET", "/repos/a/b/pulls/1", 304, {"a": 1}, "a 304 must have no body"),
        ("GET", "/repos/a/b/commits", 200, [], "no such operation"),
        ("GET", "/orgs/a/teams/b/members", 200, [SIMPLE_USER], "is a required property"),
        (
            "PUT",
            "/repos/a/b/pulls/1/merge",
            200,
            {"sha": "1", "merged": "yes", "message": ""},
            "'yes'",
        ),
    ],
)
def test_the_description_catches_responses_that_drift(
    method: str, path: str, status: int, body: Any, problem: str
) -> None:
    found = description().check(method, path, status, json.dumps(body).encode())

    assert len(found) == 1
    assert problem in found[0].problem


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("PUT", "/repos/a/b/pulls/1/merge", 405, {"message": "Pull Request is not mergeable"}),
        ("GET", "/repos/a/b/pulls/1", 304, None),
        ("GET", "/repos/a/b/branches/promote/prod/app/protection", 404, {"message": "Not Found"}),
        ("GET", "/rate_limit", 502, {"message": "Server Error"}),
    ],
)
def test_the_description_accepts_what_github_sends(
    method: str, path: str, status: int, body: Any
) -> None:
    payload = json.dumps(body).encode() if body is not None else b""

    assert description().check(method, path, status, payload) == []


@pytest.mark.parametrize(
    ("field", "value", "reported"),
    [
        ("title", None, r"/pulls/1 -> 200: title: None is not of type 'string'"),
        ("user", "ghost", r"/pulls/1 -> 500: the simulator crashed: KeyError\('ghost'\)"),
    ],
)
def test_leaving_the_simulator_fails_when_a_response_went_wrong(
    tmp_path: Path, field: str, value: Any, reported: str
) -> None:
    def corrupt_and_read() -> None:
        with serve_github(tmp_path / "config.git") as sim:
            world = World(sim)
            pull = world.open()
            setattr(sim.pull(pull.number), field, value)  # the record behind the response
            world.gh().requester.requestJson("GET", "/repos/acme/config/pulls/1")

    with pytest.raises(AssertionError, match=reported):
        corrupt_and_read()


def test_the_vendored_description_is_the_recorded_version() -> None:
    versions = dict(
        line.split()[:2] for line in (DATA / "VERSIONS").read_text().splitlines() if line[:1] != "#"
    )
    subset = OpenApi.load()

    assert subset.document["info"]["version"] == versions["@octokit/openapi"]
    assert {f"{op.method.upper()} {op.template}" for op in subset.operations} >= {
        "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge",
        "GET /repos/{owner}/{repo}/rules/branches/{branch}",
        "GET /repos/{owner}/{repo}/codeowners/errors",
    }


NEEDED = {
    "push": ["ref", "before", "after", "repository.full_name", "commits", "pusher.name"],
    "pull_request": [
        "action",
        "number",
        "pull_request.head.ref",
        "pull_request.head.sha",
        "pull_request.base.ref",
        "pull_request.state",
        "pull_request.merged",
        "pull_request.user.login",
        "repository.full_name",
    ],
    "pull_request_review": [
        "action",
        "review.state",
        "review.commit_id",
        "review.user.login",
        "pull_request.number",
        "pull_request.head.sha",
        "repository.full_name",
    ],
    "check_suite": [
        "action",
        "check_suite.head_sha",
        "check_suite.head_branch",
        "check_suite.conclusion",
        "repository.full_name",
    ],
    "status": ["sha", "context", "state", "repository.full_name"],
}


@pytest.mark.parametrize("path", sorted((DATA / "webhooks").glob("*.json")), ids=lambda p: p.stem)
def test_webhook_examples_carry_what_the_daemon_reads(path: Path) -> None:
    event, _, action = path.stem.partition(".")
    payload = json.loads(path.read_text())

    missing = [field for field in NEEDED[event] if not _has(payload, field)]

    assert missing == []
    assert payload.get("action") == (action or None)


def test_every_daemon_event_has_an_example() -> None:
    stems = {p.stem for p in (DATA / "webhooks").glob("*.json")}

    assert stems == {
        "push",
        "pull_request.opened",
        "pull_request.synchronize",
        "pull_request.closed",
        "pull_request_review.submitted",
        "check_suite.completed",
        "status",
    }


def test_deliveries_are_signed_as_github_signs_them() -> None:
    # The example of GitHub's "Validating webhook deliveries" documentation.
    secret, body = b"It's a Secret to Everybody", b"Hello, World!"

    headers = webhooks.delivery("ping", body, secret, delivery_id="d-1")

    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert (headers["X-GitHub-Event"], headers["X-GitHub-Delivery"]) == ("ping", "d-1")
    assert json.loads(webhooks.example("pull_request", "opened"))["action"] == "opened"


def _has(payload: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(payload, dict) or part not in payload:
            return False
        payload = payload[part]
    return True
