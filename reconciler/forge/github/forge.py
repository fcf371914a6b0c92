"""The Forge port over one GitHub repository: pull requests, their reviews and labels.

No read that a write's answer makes needless: creating a pull answers the pull, editing it
answers the pull, requesting reviews answers the pull. A promotion costs its writes
(create, label, ask reviewers not already asked) and, in the next cycle, the first read of
its reviews; the changed list of open pulls is one request per cycle, however many opened.
Merges use the ``merge`` method with ``sha=expected_head``: the head commit (with its
``Promoted-From``/``Image-Digest`` trailers) lands unchanged in the base's history.
"Seen live" is a GitHub Deployment of the merge commit (deployments.py); ``awaiting_live``
looks at the last ``LOOK_BACK`` closed pulls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

from reconciler.changes import Comparison
from reconciler.clock import utc_now
from reconciler.errors import PermanentError
from reconciler.forge.github import checks, protection
from reconciler.forge.github.client import DEFAULT_URL, Client, reason
from reconciler.forge.github.compare import compare_commits
from reconciler.forge.github.deployments import Deployments
from reconciler.forge.github.pulls import is_promotion, to_request
from reconciler.forge.port import (
    CommitChecks,
    Enforcement,
    MergeRefused,
    Request,
    TeamUnreadable,
)

LOOK_BACK = 30  # closed pulls searched for merges not yet seen live
_CACHE_LIMIT = 2_000


class GitHubForge:
    """The Forge port over the GitHub REST API for the repository ``owner/name``."""

    # "Code owners are automatically requested for review when someone opens a pull
    # request that modifies code that they own" (not for drafts; the daemon opens none):
    # https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners
    asks_code_owners = True

    def __init__(  # noqa: PLR0913 the forge's settings, all keyword-only with defaults
        self,
        repo_full_name: str,
        *,
        token: str | Callable[[], str],
        base_url: str = DEFAULT_URL,
        clock: Callable[[], datetime] = utc_now,
        on_request: Callable[[str, int], None] | None = None,
        on_rate_limit: Callable[[float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retries: int = 4,
        max_wait: float = 300.0,
        timeout: int = 30,
        production: Callable[[str], bool] = lambda env: False,
    ) -> None:
        owner, _, name = repo_full_name.partition("/")
        if not owner or not name or "/" in name:
            raise PermanentError(f"{repo_full_name!r} is not a GitHub repository like owner/name")
        self.owner, self.name = owner, name
        self.full_name = repo_full_name
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self._client = Client(
            owner,
            name,
            token=token,
            base_url=self.base_url,
            on_request=on_request,
            on_rate_limit=on_rate_limit,
            sleep=sleep,
            retries=retries,
            max_wait=max_wait,
            timeout=timeout,
        )
        self._api = self._client.api
        # Asked per deployment: the policy that says which environments are production is
        # read each cycle, after the forge is built.
        self._deployments = Deployments(self._client, production)
        # number -> GitHub's latest answer about that pull (a read's or a write's): who wrote
        # it (never changes) and whom it asks to review, so asking needs no read first.
        self._pulls: dict[int, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"GitHubForge({self.full_name!r}, base_url={self.base_url!r})"

    # -- reads ---------------------------------------------------------------------------

    def requests(self) -> tuple[Request, ...]:
        """Open pulls of this repository whose head branch starts with ``promote/``."""
        with self._client.guard("list the open pull requests"):
            pulls = self._client.list(f"{self._api}/pulls", {"state": "open"})
            ours = sorted(
                (p for p in pulls if is_promotion(p, self.full_name)), key=lambda p: p["number"]
            )
            return tuple(self._to_request(p) for p in ours)

    def request(self, number: int) -> Request:
        """One pull request, whatever its state."""
        with self._client.guard(f"read pull request #{number}"):
            return self._to_request(self._pull(number))

    def awaiting_live(self) -> tuple[Request, ...]:
        """Recently merged promotion pulls whose deployment has no ``success`` status yet."""
        with self._client.guard("list recently merged pull requests"):
            params = {"state": "closed", "sort": "updated", "direction": "desc"}
            pulls = self._client.list(f"{self._api}/pulls", params, pages=1, per_page=LOOK_BACK)
            found = []
            for pull in sorted(pulls, key=lambda p: p["number"]):
                if not (pull.get("merged_at") and is_promotion(pull, self.full_name)):
                    continue
                deployment = self._deployments.of(pull)
                if deployment is None or not self._deployments.succeeded(deployment["id"]):
                    found.append(self._to_request(pull))
            return tuple(found)

    def members(self, team: str) -> frozenset[str] | None:
        """``@user`` handles of ``@org/team``; None when GitHub has no such team (404);
        TeamUnreadable when it will not list them to this identity (403)."""
        org, _, slug = team.removeprefix("@").partition("/")
        if not org or not slug:
            return None
        # Slugs are lowercase on GitHub; CODEOWNERS may write them in any case.
        url = f"/orgs/{quote(org)}/teams/{quote(slug.lower())}/members"
        with self._client.guard(f"list the members of {team}"):
            try:
                people = self._client.list(url, {})
            except GithubException as refused:
                if refused.status == 404:
                    return None
                if refused.status == 403:
                    raise TeamUnreadable(
                        f"cannot tell who is in {team}: GitHub will not list its members to the "
                        f"daemon ({reason(refused)}); give the App the organization permission "
                        "'Members: read' (a fine-grained token: 'Members' read on the "
                        "organization; a classic token: read:org)"
                    ) from None
                raise
            return frozenset(f"@{person['login']}" for person in people)

    def seen_live(self, env: str, wanted: Mapping[str, str]) -> dict[str, datetime]:
        """When each wanted digest was seen live in ``env``, from its Deployments."""
        with self._client.guard(f"read the deployments of {env}"):
            return self._deployments.seen_live(env, wanted)

    def codeowner_enforcement(self, base_branch: str) -> Enforcement:
        """Whether GitHub itself refuses a merge into ``base_branch`` without a code owner."""
        return protection.codeowner_enforcement(self._client, base_branch)

    def commit_checks(
        self, sha: str, *, required_on: str | None = None, repository: str | None = None
    ) -> CommitChecks:
        """The check runs and commit statuses on ``sha`` (of the config repo, or of the
        source repository URL ``repository`` on this GitHub); with ``required_on``, the
        checks that branch's protection and rulesets require (checks.py)."""
        return checks.commit_checks(self._client, sha, required_on, repository)

    def record_rollback(self, env: str, app: str, digest: str, commit: str) -> bool:
        """Mark the environment's deployment of ``digest`` failed: a person rolled it back."""
        return self._deployments.record_rollback(env, app, digest, commit)

    def can_push(self) -> bool:
        """Whether this identity may push to the repository (for `reconciler doctor`)."""
        with self._client.guard("read the repository's permissions"):
            repository = self._client.get(self._api, {})
            permissions = repository.get("permissions") or {}
            return bool(permissions.get("push"))

    def signature_requirement(self, base_branch: str) -> tuple[bool | None, str]:
        """Whether GitHub requires signed commits on ``base_branch`` (for `reconciler
        doctor`): True, False, or None when it cannot be read; and why."""
        return protection.signature_requirement(self._client, base_branch)

    def codeowners_errors(self, ref: str) -> tuple[str, ...]:
        """GitHub's complaints about the CODEOWNERS file at ``ref``; () when it has none."""
        return protection.codeowners_errors(self._client, ref)

    def compare(self, source: str, base: str, head: str) -> Comparison | None:
        """The commits from ``base`` to ``head`` of the image source repository ``source``
        (a URL); None when it is not a repository on this GitHub."""
        return compare_commits(self._client, source, base, head)

    # -- writes --------------------------------------------------------------------------

    def open(
        self, head_branch: str, base_branch: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Request:
        """Open a pull for ``head_branch``, or return the open one it already has."""
        with self._client.guard(f"open a pull request for {head_branch}"):
            # No list first: GitHub keeps one open pull per head and answers 422 to a second,
            # so the rare retry pays for the lookup instead of every open.
            fields = {"title": title, "head": head_branch, "base": base_branch, "body": body}
            try:
                _, created = self._client.write("POST", f"{self._api}/pulls", fields)
            except GithubException as refused:
                again = self._open_for(head_branch, base_branch) if refused.status == 422 else None
                if again is None:
                    raise
                return self._to_request(again)  # opened before (a retry, or another writer)
            pull = dict(created)  # the create answer is the whole pull: no need to read it
            if labels:
                # The pulls endpoint takes no labels; the labels endpoint adds them
                # (adds: a label another tool put on meanwhile stays) and answers them all.
                url = f"{self._api}/issues/{pull['number']}/labels"
                _, pull["labels"] = self._client.write("POST", url, {"labels": list(labels)})
            # A pull created a moment ago has no reviews; the next cycle's poll reads them.
            # updated_at stays the creation's: the label answer does not say the new one.
            return self._to_request(pull, reviews=[])

    def update(self, number: int, title: str, body: str, comment: str | None) -> Request:
        """Rewrite title and body, and add ``comment`` to the conversation when given."""
        with self._client.guard(f"update pull request #{number}"):
            url = f"{self._api}/pulls/{number}"
            _, edited = self._client.write("PATCH", url, {"title": title, "body": body})
            if comment:
                self._client.write(
                    "POST", f"{self._api}/issues/{number}/comments", {"body": comment}
                )
            return self._to_request(edited)  # the edit answers the whole pull

    def request_reviews(self, number: int, reviewers: tuple[str, ...]) -> None:
        """Ask users (``@login``) and teams (``@org/slug``) to review; never the author."""
        with self._client.guard(f"request reviews on pull request #{number}"):
            # What GitHub last said about the pull (this cycle's poll, or the answer to the
            # write that opened or edited it) names its author and whom it already asks:
            # GitHub itself asks the code owners when a pull opens.
            pull = self._pulls.get(number) or self._pull(number)
            skip = {str(pull["user"]["login"]).casefold()}
            skip.update(str(u["login"]).casefold() for u in pull.get("requested_reviewers") or ())
            asked = {str(t["slug"]).casefold() for t in pull.get("requested_teams") or ()}
            users = [r[1:] for r in reviewers if "/" not in r and r[1:].casefold() not in skip]
            teams = [
                slug
                for r in reviewers
                if "/" in r and (slug := r.split("/", 1)[1]).casefold() not in asked
            ]
            if users or teams:
                url = f"{self._api}/pulls/{number}/requested_reviewers"
                _, answer = self._client.write(
                    "POST", url, {"reviewers": users, "team_reviewers": teams}
                )
                self._remember(answer)

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        """Add ``labels`` (the issue's labels endpoint adds; other labels stay)."""
        with self._client.guard(f"label pull request #{number}"):
            url = f"{self._api}/issues/{number}/labels"
            _, answer = self._client.write("POST", url, {"labels": list(labels)})
            if number in self._pulls:  # the answer is every label the pull has now
                self._pulls[number]["labels"] = answer

    def merge(self, number: int, expected_head: str, message: str) -> str:
        """Merge (a merge commit) if the head is still ``expected_head``; the base's commit."""
        with self._client.guard(f"merge pull request #{number}"):
            pull = self._pull(number, fresh=True)
            if pull.get("merged") and pull.get("merge_commit_sha"):
                return str(pull["merge_commit_sha"])
            if pull["state"] != "open":
                raise MergeRefused(f"pull request #{number} is closed; it cannot be merged")
            head = str(pull["head"]["sha"])
            if head != expected_head:
                raise MergeRefused(
                    f"pull request #{number}'s head is {head[:12]}, not {expected_head[:12]}: "
                    "it changed since it was planned"
                )
            title, _, details = message.partition("\n")
            fields = {
                "sha": expected_head,
                "merge_method": "merge",
                "commit_title": title,
                "commit_message": details.strip("\n"),
            }
            try:
                _, merged = self._client.write("PUT", f"{self._api}/pulls/{number}/merge", fields)
            except GithubException as refused:
                if refused.status not in (405, 409, 422):
                    raise
                said = reason(refused)
                if refused.status == 409 and said.startswith("Head branch"):
                    said += " (the head changed since it was planned)"
                raise MergeRefused(
                    f"GitHub refused to merge pull request #{number}: {said}"
                ) from None
            merged_pull = {**pull, "merged_at": True, "merge_commit_sha": merged["sha"]}
            self._deployments.record_merged(merged_pull, number)
            return str(merged["sha"])

    def close(self, number: int, comment: str) -> None:
        """Comment, then close without merging; a pull already closed is left as it is."""
        with self._client.guard(f"close pull request #{number}"):
            if self._pull(number, fresh=True)["state"] != "open":
                return
            self._client.write("POST", f"{self._api}/issues/{number}/comments", {"body": comment})
            self._client.write("PATCH", f"{self._api}/pulls/{number}", {"state": "closed"})

    def record_live(self, number: int, at: datetime, *, inferred: bool = False) -> None:
        """Give the merge commit's deployment a ``success`` status; the first one is kept."""
        with self._client.guard(f"record pull request #{number} as live"):
            pull = self._pull(number)
            sha = pull.get("merge_commit_sha")
            if not pull.get("merged_at") or not sha:
                return
            self._deployments.record_live(pull, number, at, inferred=inferred)

    # -- internals -----------------------------------------------------------------------

    def _remember(self, pull: dict[str, Any]) -> None:
        if len(self._pulls) > _CACHE_LIMIT:
            self._pulls.clear()
        self._pulls[int(pull["number"])] = pull

    def _to_request(
        self, pull: dict[str, Any], reviews: list[dict[str, Any]] | None = None
    ) -> Request:
        """The port's Request for a pull; its reviews are read unless given."""
        number = int(pull["number"])
        self._remember(pull)
        if reviews is None:
            reviews = self._client.list(f"{self._api}/pulls/{number}/reviews", {})
        return to_request(pull, reviews, self.owner, self._clock)

    def _pull(self, number: int, *, fresh: bool = False) -> dict[str, Any]:
        url = f"{self._api}/pulls/{number}"
        try:
            pull: dict[str, Any] = self._client.get(url, {}, conditional=not fresh)
        except GithubException as refused:
            if refused.status == 404:
                raise PermanentError(
                    f"pull request #{number} does not exist in {self.full_name}"
                ) from None
            raise
        return pull

    def _open_for(self, head_branch: str, base_branch: str) -> dict[str, Any] | None:
        params = {"state": "open", "head": f"{self.owner}:{head_branch}", "base": base_branch}
        found = self._client.list(f"{self._api}/pulls", params)
        return found[0] if found else None
