"""The forge contract's GitHub flavour: GitHubForge acting as the daemon on the simulator.

The base branch holds forgeworld's files; its owners and teams exist as accounts; an active
ruleset requires review from code owners (and no other approval), so GitHub refuses the
merges the local forge refuses. Reviews are given as the reviewer, through the API, as a
person would on github.com.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import github
from github import Auth

from reconciler.errors import PolicyError
from reconciler.forge.github.forge import GitHubForge
from reconciler.forge.port import Request, ReviewState
from reconciler.forge.records import is_user
from tests.contract.forgeworld import BASE, HEAD_TRAILERS, PROD
from tests.servers.github_sim import GitHubSim, serve_github
from tests.servers.github_sim.gitstore import Person

_EVENTS = {"approved": "APPROVE", "changes_requested": "REQUEST_CHANGES", "commented": "COMMENT"}


class ReviewingGitHubForge(GitHubForge):
    """GitHubForge as the daemon (``@reconciler``), plus reviews given as other accounts."""

    def __init__(self, sim: GitHubSim) -> None:
        self.sim = sim
        self._tokens = {"reconciler": sim.add_user("reconciler")}
        super().__init__("acme/config", base_url=sim.url, token=self._tokens["reconciler"])

    def review(self, number: int, reviewer: str, state: ReviewState, comment: str = "") -> Request:
        """Review ``number`` as ``reviewer`` on its current head, through the API."""
        if not is_user(reviewer):
            raise PolicyError(f"{reviewer!r} is not a reviewer handle like @alice")
        request = self.request(number)
        if request.state != "open":
            raise PolicyError(f"request #{number} is {request.state}; only open ones take reviews")
        login = reviewer[1:]
        if login not in self._tokens:
            self._tokens[login] = self.sim.add_user(login)
        gh = github.Github(
            base_url=self.sim.url,
            auth=Auth.Token(self._tokens[login]),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        pull = gh.get_repo(self.full_name).get_pull(number)
        try:
            pull.create_review(event=_EVENTS[state], body=comment or state.replace("_", " "))
        except github.GithubException as refused:
            if refused.status != 422:
                raise
            raise PolicyError(f"GitHub refused the review: {refused.data}") from None
        return self.request(number)


class GitHubForgeWorld:
    """The simulator seeded like forgeworld's git worlds, with GitHubForge on it."""

    def __init__(self, sim: GitHubSim, root: Path) -> None:
        self.sim = sim
        self._root = root
        self.forge = ReviewingGitHubForge(sim)
        self._ci: github.Github | None = None  # CI's account, setting statuses
        for login in ("lead", "rita", "ron", "someone"):
            sim.add_user(login)
        sim.add_team("release", ("rita", "ron"))
        sim.add_team("platform", ())
        sim.commit("main", BASE)
        sim.add_ruleset(
            "code owners", require_code_owner_review=True, required_approving_review_count=0
        )

    def source_commit(self) -> tuple[str, str]:
        store = self.sim.add_source("acme/shop", self._root / "shop.git")
        who = Person("Alice", "alice@example.com", datetime(2026, 12, 1, tzinfo=UTC))
        return f"{self.sim.url}/acme/shop", store.commit("main", {"README": b"1"}, "1", who)

    def set_status(
        self, sha: str, name: str, state: str, url: str = "", repository: str | None = None
    ) -> None:
        if self._ci is None:
            self._ci = github.Github(
                base_url=self.sim.url,
                auth=Auth.Token(self.sim.add_user("ci")),
                seconds_between_requests=0,
                seconds_between_writes=0,
            )
        fields = {"state": state, "context": name, **({"target_url": url} if url else {})}
        repo = urlsplit(repository).path.strip("/") if repository else self.forge.full_name
        self._ci.requester.requestJsonAndCheck(
            "POST", f"/repos/{repo}/statuses/{sha}", input=fields
        )

    def require_checks(self, branch: str, names: tuple[str, ...]) -> bool:
        # One from a ruleset, the rest from classic protection: both are read.
        self.sim.add_ruleset("ci", pull_request_rule=False, required_checks=names[:1])
        self.sim.protect(branch, reviews=False, required_checks=names[1:])
        return True

    def push_head(self, branch: str, content: bytes, path: str = PROD) -> str:
        trailers = "".join(f"{t.key}: {t.value}\n" for t in HEAD_TRAILERS)
        message = f"promote {path}\n\n{trailers}"
        return self.sim.commit(branch, {path: content}, message, parent=self.sim.tip("main"))


@contextmanager
def github_world(tmp_path: Path) -> Iterator[GitHubForgeWorld]:
    """A running simulator world; leaving it checks every answer fitted GitHub's description."""
    with serve_github(tmp_path / "config.git") as sim:
        yield GitHubForgeWorld(sim, tmp_path)
