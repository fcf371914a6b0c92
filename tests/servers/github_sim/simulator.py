"""The simulator as tests drive it: start it, seed people and rules, inject faults, read counters.

    with serve_github(tmp_path / "config.git") as sim:
        token = sim.add_user("alice", permission="admin")
        gh = github.Github(base_url=sim.url, auth=github.Auth.Token(token))

Every response is checked against GitHub's OpenAPI description while the test runs; leaving
the ``with`` block raises AssertionError listing any response that did not fit (unless the
block itself failed, so that the first error stays the one reported).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from tests.servers.github_sim import pushcheck, signatures
from tests.servers.github_sim.gitstore import GitStore, Person
from tests.servers.github_sim.openapi import Violation, description
from tests.servers.github_sim.server import Dispatcher, start
from tests.servers.github_sim.state import (
    App,
    BypassActor,
    Exchange,
    Faults,
    Permission,
    Protection,
    Pull,
    ReviewRules,
    Ruleset,
    Team,
    Token,
    User,
    World,
)


class GitHubSim:
    """A running simulator of one repository, ``owner/name``, backed by a bare git repo."""

    def __init__(self, world: World, dispatcher: Dispatcher, url: str) -> None:
        self.world = world
        self.url = url
        self._dispatcher = dispatcher

    # -- where things are -----------------------------------------------------------------

    @property
    def git_path(self) -> Path:
        """The bare repository: clone, fetch and push here (a local path or file:// URL)."""
        return self.world.git.path

    @property
    def full_name(self) -> str:
        return self.world.full_name

    @property
    def faults(self) -> Faults:
        """Failures to inject: ``fail_next``, ``secondary_limit``, ``hide_protection``, ..."""
        return self.world.faults

    # -- what happened --------------------------------------------------------------------

    @property
    def violations(self) -> list[Violation]:
        """Responses that did not fit GitHub's OpenAPI description (should stay empty)."""
        with self.world.lock:
            return list(self._dispatcher.violations)

    @property
    def counts(self) -> Counter[str]:
        """Requests served per operation, e.g. ``counts["GET /repos/{owner}/{repo}/pulls"]``."""
        with self.world.lock:
            return Counter(self.world.counts)

    @property
    def exchanges(self) -> list[Exchange]:
        """Every request served, in order: method, path, operation, status, login."""
        with self.world.lock:
            return list(self.world.exchanges)

    @property
    def rate_limited(self) -> int:
        """How many answers were a primary or secondary rate limit."""
        with self.world.lock:
            return self.world.rate_limited

    @property
    def invalid_requests(self) -> int:
        """How many request bodies did not fit the description (answered 422, as GitHub)."""
        with self.world.lock:
            return self.world.invalid_requests

    def reset_counters(self) -> None:
        """Forget counts and exchanges (not violations), e.g. after seeding."""
        with self.world.lock:
            self.world.counts.clear()
            self.world.exchanges.clear()
            self.world.rate_limited = 0
            self.world.invalid_requests = 0

    def tip(self, branch: str) -> str | None:
        """The commit ``branch`` points at in the bare repository, or None."""
        with self.world.lock:
            return self.world.git.tip(branch)

    def read(self, commit: str, path: str) -> bytes | None:
        """The file at ``path`` in ``commit``, or None."""
        with self.world.lock:
            return self.world.git.read(commit, path)

    def pull(self, number: int) -> Pull:
        """The simulator's record of pull ``number`` (read it, don't keep it)."""
        with self.world.lock:
            return self.world.pulls[number]

    # -- seeding --------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        permission: Permission = "write",
        email: str | None = None,
        name: str | None = None,
    ) -> str:
        """Create an account with ``permission`` on the repository; returns a token for it."""
        with self.world.lock:
            self.world.users[login] = User(
                login, self.world.next_id(), permission, email=email, name=name
            )
            return self.token_for(login)

    def token_for(self, login: str) -> str:
        """A new personal access token for ``login``."""
        token = "ghp_" + secrets.token_urlsafe(27)
        with self.world.lock:
            self.world.tokens[token] = Token(self.world.user(login).login)
        return token

    def app_token(self, app_id: int) -> str:
        """An installation token of App ``app_id`` (as its JWT would mint one), acting as
        its bot with the App's permissions: what creates check runs."""
        token = "ghs_" + secrets.token_urlsafe(27)
        with self.world.lock:
            app = self.world.apps[app_id]
            expires = self.world.clock() + timedelta(hours=1)
            self.world.tokens[token] = Token(app.bot.login, expires_at=expires, installation=app)
        return token

    def add_team(
        self, slug: str, members: tuple[str, ...], permission: Permission = "write"
    ) -> None:
        """Create team ``@owner/slug`` with ``members`` (logins) and ``permission``."""
        with self.world.lock:
            self.world.teams[slug.lower()] = Team(
                slug,
                self.world.next_id(),
                slug.replace("-", " ").title(),
                list(members),
                permission,
            )

    def add_app(
        self, app_id: int, slug: str, public_key: str, permissions: Mapping[str, str] | None = None
    ) -> int:
        """Register a GitHub App (JWTs verify with ``public_key``, PEM) installed on the
        repository's owner, acting as ``slug[bot]``; returns the installation id."""
        granted = dict(
            permissions
            or {
                "contents": "write",
                "pull_requests": "write",
                "issues": "write",
                "deployments": "write",
                "metadata": "read",
                "administration": "read",
                "members": "read",
            }
        )
        with self.world.lock:
            bot = User(f"{slug}[bot]", self.world.next_id(), "write", kind="Bot")
            self.world.users[bot.login] = bot
            installation = self.world.next_id()
            self.world.apps[app_id] = App(app_id, slug, public_key, installation, granted, bot)
            return installation

    def protect(
        self,
        branch: str,
        *,
        required_approving_review_count: int = 1,
        require_code_owner_reviews: bool = False,
        dismiss_stale_reviews: bool = False,
        enforce_admins: bool = False,
        reviews: bool = True,
        bypass: tuple[str, ...] = (),
        required_signatures: bool = False,
        required_checks: tuple[str, ...] = (),
    ) -> None:
        """Turn on classic branch protection of ``branch`` (``reviews=False``: no review rules).

        ``bypass``: who may bypass required pull requests: ``login``, ``team:slug`` or
        ``app:slug``. ``required_signatures``: "Require signed commits". ``required_checks``:
        the status checks "Require status checks to pass before merging" names.
        """
        rules = ReviewRules(
            required_approving_review_count, require_code_owner_reviews, dismiss_stale_reviews
        )
        kinds: dict[str, list[str]] = {"user": [], "team": [], "app": []}
        for who in bypass:
            kind, _, name = who.rpartition(":")
            kinds[kind or "user"].append(name)
        with self.world.lock:
            self.world.protection[branch] = Protection(
                rules if reviews else None,
                enforce_admins,
                bypass_users=kinds["user"],
                bypass_teams=kinds["team"],
                bypass_apps=kinds["app"],
                required_signatures=required_signatures,
                required_checks=list(required_checks),
            )
            pushcheck.write_rules(self.world)

    def unprotect(self, branch: str) -> None:
        with self.world.lock:
            self.world.protection.pop(branch, None)

    def add_ruleset(
        self,
        name: str,
        *,
        include: tuple[str, ...] = ("~DEFAULT_BRANCH",),
        exclude: tuple[str, ...] = (),
        enforcement: Literal["active", "disabled", "evaluate"] = "active",
        required_approving_review_count: int = 1,
        require_code_owner_review: bool = False,
        dismiss_stale_reviews_on_push: bool = False,
        pull_request_rule: bool = True,
        bypass: tuple[BypassActor, ...] = (),
        required_signatures: bool = False,
        required_checks: tuple[str, ...] = (),
    ) -> int:
        """Add a branch ruleset (with a ``pull_request`` rule unless told not to, and a
        ``required_signatures`` rule if told); its id."""
        rules = ReviewRules(
            required_approving_review_count,
            require_code_owner_review,
            dismiss_stale_reviews_on_push,
        )
        with self.world.lock:
            ruleset = Ruleset(
                self.world.next_id(),
                name,
                enforcement,
                list(include),
                list(exclude),
                rules if pull_request_rule else None,
                self.world.clock(),
                list(bypass),
                required_signatures,
                list(required_checks),
            )
            self.world.rulesets[ruleset.id] = ruleset
            pushcheck.write_rules(self.world)
            return ruleset.id

    def add_signing_key(
        self,
        login: str,
        *,
        ssh: str | None = None,
        openpgp: tuple[str, bytes] | None = None,
    ) -> None:
        """Register a signing key on ``login``'s account (which needs an email): an SSH
        public key line, or an OpenPGP key as (fingerprint, armored public key). Commits
        whose committer email is that account's and whose signature that key makes are
        verified (signatures.py)."""
        with self.world.lock:
            email = self.world.user(login).email
            assert email, f"{login} needs an email to verify commits by"
            if ssh is not None:
                self.world.keys.add_ssh(email, ssh)
            if openpgp is not None:
                fingerprint, armored = openpgp
                home = self.world.git.path.with_name(self.world.git.path.name + ".gnupg")
                self.world.keys.add_openpgp(email, fingerprint, armored, home)
            pushcheck.write_rules(self.world)

    def verified(self, commit: str) -> bool:
        """Whether GitHub would show ``commit`` as verified."""
        with self.world.lock:
            if commit in self.world.made_here:
                return True
            raw = signatures.read_commit(self.world.git.path, commit)
            return signatures.verified(raw, self.world.keys)

    def actor_id(self, kind: str, name: str) -> int:
        """The id a bypass list names ``name`` by: a user's, a team's (slug) or an App's."""
        with self.world.lock:
            if kind == "User":
                return self.world.user(name).id
            if kind == "Team":
                team = self.world.team(name)
                assert team is not None, name
                return team.id
            return next(a.id for a in self.world.apps.values() if a.slug == name)

    def set_ruleset(
        self,
        ruleset_id: int,
        enforcement: Literal["active", "disabled", "evaluate"] | None,
    ) -> None:
        """Change a ruleset's enforcement, or delete it (``None``), as an admin would."""
        with self.world.lock:
            if enforcement is None:
                del self.world.rulesets[ruleset_id]
            else:
                self.world.rulesets[ruleset_id].enforcement = enforcement

    def commit(
        self,
        branch: str,
        files: Mapping[str, bytes | None],
        message: str = "change\n",
        parent: str | None = None,
    ) -> str:
        """Push a commit of ``files`` (None deletes) onto ``branch``, as a user would; its id."""
        with self.world.lock:
            who = Person("Pusher", "pusher@example.com", self.world.clock())
            return self.world.git.commit(branch, files, message, who, parent)

    def add_source(self, full_name: str, path: Path) -> GitStore:
        """Another repository (an image's source) at the bare repo ``path`` (made if
        missing), readable by every caller through the compare endpoint; its git data."""
        with self.world.lock:
            store = GitStore(path)
            self.world.sources[full_name.lower()] = store
            return store

    def set_branch(self, branch: str, commit: str | None) -> None:
        """Force ``branch`` to ``commit`` (None deletes it), as a force push would."""
        with self.world.lock:
            self.world.git.set_branch(branch, commit)

    def set_rate_limit(self, identity: str, limit: int, used: int = 0, status: int = 403) -> None:
        """Give ``identity`` (a login) a primary limit of ``limit`` with ``used`` spent; once
        spent, it is refused with ``status`` (GitHub: 403 or 429) until the window's reset."""
        with self.world.lock:
            bucket = self.world.bucket(identity)
            bucket.limit, bucket.used, bucket.status = limit, used, status

    def rate_limit_reset(self, identity: str) -> datetime:
        """When the primary limit window of ``identity`` restarts (X-RateLimit-Reset)."""
        with self.world.lock:
            return datetime.fromtimestamp(self.world.bucket(identity).reset, UTC)

    @property
    def unversioned(self) -> list[Exchange]:
        """Every request so far (reset_counters keeps them) that lacked GitHub's media type
        (``Accept: application/vnd.github+json``) or ``X-GitHub-Api-Version: 2022-11-28``."""
        with self.world.lock:
            return list(self._dispatcher.unversioned)


@contextmanager
def serve_github(
    path: Path,
    *,
    owner: str = "acme",
    name: str = "config",
    default_branch: str = "main",
    clock: Callable[[], datetime] | None = None,
    validate: bool = True,
) -> Iterator[GitHubSim]:
    """Serve ``owner/name`` on 127.0.0.1, backed by the bare repo at ``path`` (made if missing).

    With ``validate`` (the default), every response is checked against the vendored OpenAPI
    description, and leaving the block raises AssertionError if any did not fit.
    """
    world = World(
        owner=owner,
        name=name,
        git=GitStore(path, default_branch),
        clock=clock or (lambda: datetime.now(UTC)),
        default_branch=default_branch,
    )
    world.users[owner] = User(owner, world.next_id(), "admin", kind="Organization")
    checker = description() if validate else None
    made: list[Dispatcher] = []

    def make(api: str) -> Dispatcher:
        made.append(Dispatcher(world, api, checker))
        return made[0]

    server, thread = start(make)
    sim = GitHubSim(world, made[0], f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield sim
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    if sim.violations:
        listed = "\n".join(f"  {v}" for v in sim.violations)
        raise AssertionError(f"responses that do not fit GitHub's OpenAPI description:\n{listed}")
