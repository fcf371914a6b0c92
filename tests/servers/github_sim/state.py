"""What the simulated GitHub remembers: people, teams, apps, protection, rulesets, pulls, faults.

All of it is plain mutable records guarded by the one lock of ``World``: every request is
handled whole under that lock, so the simulator answers as one consistent GitHub would.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from tests.servers.github_sim.gitstore import GitStore
from tests.servers.github_sim.signatures import Keyring

Permission = Literal["read", "write", "admin"]
ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "PENDING", "DISMISSED"]
RULE_SOURCE = "Repository"


@dataclass
class User:
    """A GitHub account (``kind`` "User", "Bot" or "Organization")."""

    login: str
    id: int
    permission: Permission = "write"
    email: str | None = None
    name: str | None = None
    kind: str = "User"


@dataclass
class Team:
    """A team of the repository's organization."""

    slug: str
    id: int
    name: str
    members: list[str]
    permission: Permission = "write"


@dataclass
class App:
    """A GitHub App: its id, slug and the public key its JWTs verify with."""

    id: int
    slug: str
    public_key: str  # PEM
    installation_id: int
    permissions: dict[str, str]
    bot: User


@dataclass
class Token:
    """A credential: whose it is, and when it stops working (installation tokens)."""

    login: str
    expires_at: datetime | None = None
    installation: App | None = None


@dataclass
class ReviewRules:
    """Pull-request review requirements, from branch protection or a ruleset's rule."""

    required_approving_review_count: int = 1
    require_code_owner_reviews: bool = False
    dismiss_stale_reviews: bool = False


@dataclass
class Protection:
    """Classic branch protection of one branch (only what this project reads).

    ``bypass_*``: "Allow specified actors to bypass required pull requests" (logins, team
    slugs, app slugs), GitHub's ``bypass_pull_request_allowances``.
    """

    reviews: ReviewRules | None = field(default_factory=ReviewRules)
    enforce_admins: bool = False
    bypass_users: list[str] = field(default_factory=list)
    bypass_teams: list[str] = field(default_factory=list)
    bypass_apps: list[str] = field(default_factory=list)
    required_signatures: bool = False  # "Require signed commits"
    required_checks: list[str] = field(default_factory=list)  # "Require status checks to pass"


BypassMode = Literal["always", "pull_request", "exempt"]
ActorType = Literal["Integration", "OrganizationAdmin", "RepositoryRole", "Team", "User"]


@dataclass
class BypassActor:
    """One entry of a ruleset's bypass list (GitHub's ``repository-ruleset-bypass-actor``).

    ``actor_id``: the App's id, the team's or user's id, or the repository role's id (GitHub's
    built-in roles: 2 maintain, 4 write, 5 admin); ignored for OrganizationAdmin.
    """

    actor_type: ActorType
    actor_id: int | None
    bypass_mode: BypassMode = "always"


@dataclass
class Ruleset:
    """A repository ruleset targeting branches, with at most a ``pull_request`` rule and a
    ``required_signatures`` rule."""

    id: int
    name: str
    enforcement: Literal["active", "disabled", "evaluate"]
    include: list[str]  # ref name patterns: "refs/heads/main", "~DEFAULT_BRANCH", "~ALL"
    exclude: list[str]
    reviews: ReviewRules | None
    created_at: datetime
    bypass: list[BypassActor] = field(default_factory=list)
    required_signatures: bool = False
    required_checks: list[str] = field(default_factory=list)  # a required_status_checks rule


@dataclass
class Review:
    """A review, bound to the commit it was given on."""

    id: int
    user: str
    state: ReviewState
    body: str
    commit_id: str
    submitted_at: datetime


@dataclass
class Comment:
    """A comment in a pull request's conversation."""

    id: int
    user: str
    body: str
    created_at: datetime


@dataclass
class Pull:
    """A pull request; ``head_sha`` follows the head branch's tip in the bare repository."""

    number: int
    id: int
    title: str
    body: str | None
    user: str
    head: str
    base: str
    head_sha: str
    base_sha: str
    created_at: datetime
    updated_at: datetime
    draft: bool = False
    state: Literal["open", "closed"] = "open"
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    closed_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


@dataclass
class Deployment:
    """A deployment of a ref, with its statuses (newest last)."""

    id: int
    sha: str
    ref: str
    task: str
    environment: str
    description: str | None
    payload: dict[str, object] | str
    creator: str
    created_at: datetime
    transient_environment: bool
    production_environment: bool
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass
class DeploymentStatus:
    """One status of a deployment."""

    id: int
    state: str
    description: str
    environment: str
    target_url: str
    log_url: str
    environment_url: str
    creator: str
    created_at: datetime


@dataclass
class CheckRun:
    """A check run an App created on a commit (GitHub's Checks API)."""

    id: int
    sha: str
    name: str
    status: str  # queued, in_progress, completed
    repo: str  # "owner/name", lower case: the config repo or a source repository
    conclusion: str | None
    details_url: str
    app: App
    started_at: datetime
    completed_at: datetime | None


@dataclass
class CommitStatus:
    """A commit status (GitHub's Statuses API); the latest of a context counts."""

    id: int
    sha: str
    state: str  # error, failure, pending, success
    repo: str  # "owner/name", lower case: the config repo or a source repository
    context: str
    target_url: str | None
    description: str | None
    creator: str
    created_at: datetime


@dataclass
class Faults:
    """Failures to inject: each count is how many of the next requests get that failure."""

    server_errors: int = 0
    server_error_status: int = 502
    secondary_limits: int = 0
    retry_after: int = 60
    secondary_status: int = 403
    hide_protection: bool = False
    # A ruleset's detail answers 403 (a token without "Metadata: read" on it).
    hide_rulesets: bool = False
    # A ruleset's detail leaves out current_user_can_bypass (an older GitHub Enterprise Server).
    omit_bypass: bool = False
    # No rulesets at all: the rules and rulesets endpoints are 404 (GHES before rulesets).
    no_rulesets: bool = False
    mergeable_unknown: int = 0
    # Ask a new pull's code owners for review after answering its creation, as github.com
    # may (in the background): the create answer names none; the next request finds them.
    code_owners_later: bool = False
    timeouts: int = 0
    timeout_delay: float = 0.0
    target: str | None = None  # a login: only its requests get the counted faults above
    # Asked before each request, outside the lock (it may block): False drops the request
    # unanswered, as when the client died before it was sent or the network ate it.
    pause: Callable[[str, str], bool] | None = None

    def fail_next(self, count: int, status: int = 502) -> None:
        """Answer the next ``count`` requests with ``status`` (a 5xx)."""
        self.server_errors, self.server_error_status = count, status

    def aimed_at(self, login: str | None) -> bool:
        """Whether the counted faults apply to a request by ``login``."""
        return self.target is None or self.target == login

    def time_out(self, count: int, delay: float) -> None:
        """Serve the next ``count`` requests (their effects happen) but hold each answer back
        ``delay`` seconds: longer than the client waits, it sees a timeout."""
        self.timeouts, self.timeout_delay = count, delay

    def secondary_limit(self, count: int = 1, retry_after: int = 60, status: int = 403) -> None:
        """Answer the next ``count`` requests with a secondary rate limit and Retry-After."""
        self.secondary_limits, self.retry_after, self.secondary_status = count, retry_after, status


@dataclass
class RateBucket:
    """The primary rate limit of one identity."""

    limit: int
    used: int = 0
    reset: int = 0  # epoch seconds when the window restarts
    status: int = 403  # GitHub answers a spent primary limit with 403 or 429


# GitHub's "Getting started with the REST API": what a client should send with every request.
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"


@dataclass
class Exchange:
    """One request as served: for counters and assertions."""

    method: str
    path: str
    operation: str  # "GET /repos/{owner}/{repo}/pulls", or the raw path when unknown
    status: int
    login: str | None
    # What the client said of itself: GitHub accepts requests without these, so they are
    # recorded (Dispatcher.unversioned), not refused.
    accept: str = ""
    api_version: str = ""
    user_agent: str = ""

    @property
    def versioned(self) -> bool:
        """The request named GitHub's media type and the API version, as GitHub asks."""
        types = {part.split(";")[0].strip() for part in self.accept.split(",")}
        return MEDIA_TYPE in types and self.api_version == API_VERSION


@dataclass
class World:
    """Everything the simulator knows, and the lock every request holds."""

    owner: str
    name: str
    git: GitStore
    clock: Callable[[], datetime]
    default_branch: str = "main"
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    apps: dict[int, App] = field(default_factory=dict)
    protection: dict[str, Protection] = field(default_factory=dict)
    rulesets: dict[int, Ruleset] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # repository labels: name -> id
    deployments: dict[int, Deployment] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    statuses: list[CommitStatus] = field(default_factory=list)  # oldest first
    owners_to_ask: list[int] = field(default_factory=list)  # pulls (code_owners_later)
    faults: Faults = field(default_factory=Faults)
    buckets: dict[str, RateBucket] = field(default_factory=dict)
    rate_limit: int = 5000
    counts: Counter[str] = field(default_factory=Counter)
    exchanges: list[Exchange] = field(default_factory=list)
    rate_limited: int = 0
    invalid_requests: int = 0  # request bodies that did not fit the description (422)
    keys: Keyring = field(default_factory=Keyring)  # accounts' signing keys (signatures.py)
    made_here: set[str] = field(default_factory=set)  # merges GitHub made (and signed) itself
    # Other repositories the callers may read: "owner/name" (lower case) -> its git data.
    sources: dict[str, GitStore] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        """A fresh id for any object (GitHub's ids are unique per kind; ours are global)."""
        return next(self.ids)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def user(self, login: str) -> User:
        """The account ``login`` (case-insensitive, as GitHub logins are)."""
        if login in self.users:
            return self.users[login]
        for user in self.users.values():
            if user.login.lower() == login.lower():
                return user
        raise KeyError(login)

    def find_user(self, login: str) -> User | None:
        try:
            return self.user(login)
        except KeyError:
            return None

    def team(self, slug: str) -> Team | None:
        return self.teams.get(slug.lower())

    def can_write(self, login: str) -> bool:
        """True when ``login`` may push (directly or through a team)."""
        user = self.find_user(login)
        if user is None:
            return False
        if user.permission in ("write", "admin"):
            return True
        return any(
            team.permission in ("write", "admin") and _member(team, login)
            for team in self.teams.values()
        )

    def bucket(self, identity: str) -> RateBucket:
        """The primary rate limit window of ``identity``, restarted when its hour is up."""
        now = int(self.clock().timestamp())
        bucket = self.buckets.setdefault(identity, RateBucket(self.rate_limit))
        if bucket.reset <= now:
            bucket.used, bucket.reset = 0, now + 3600
        return bucket

    def is_admin(self, login: str) -> bool:
        user = self.find_user(login)
        return user is not None and user.permission == "admin"


def _member(team: Team, login: str) -> bool:
    return login.lower() in (member.lower() for member in team.members)
