"""The GitHub forge: promotion requests are pull requests on github.com or GitHub Enterprise.

PyGithub is the HTTP client (auth, the ``Link``-paged REST API, rate-limit exceptions);
requests go through ``gh.requester`` as JSON so each call is exactly one documented
endpoint. What this adapter adds:

- Conditional GETs: every read keeps the ETag and body of its last 200 and sends
  ``If-None-Match``; GitHub answers 304 without spending rate limit, so an idle cycle is
  free.
- No read that a write's answer makes needless: creating a pull answers the pull, editing
  it answers the pull, requesting reviews answers the pull. A promotion costs its writes
  (create, label, ask reviewers not already asked) and, in the next cycle, the first read of
  its reviews; the changed list of open pulls is one request per cycle, however many opened.
- Retries in one urllib3 ``Retry`` (PyGithub's ``GithubRetry``): 5xx with exponential
  backoff; a secondary rate limit waits its ``Retry-After``; a spent primary limit waits
  for its reset, unless that is longer than ``max_wait`` (then: TransientError, next cycle).
  The same object sees every response, so it reports each one to ``on_request``.
- Merges use the ``merge`` method with ``sha=expected_head``: the head commit (with its
  ``Promoted-From``/``Image-Digest`` trailers) lands unchanged in the base's history.
- "Seen live" is a GitHub Deployment of the merge commit, environment ``<env>``, with a
  ``success`` status; ``awaiting_live`` looks at the last ``LOOK_BACK`` closed pulls.

Errors: 5xx, rate limits and network failures are TransientError; what the token may not
do is PermanentError. Messages quote GitHub's ``message`` field, never a header or a URL
with credentials; the token only lives in the Authorization header.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import github
from github.GithubException import GithubException, RateLimitExceededException

from reconciler.clock import utc_now
from reconciler.errors import PermanentError, TransientError
from reconciler.forge.port import (
    Enforcement,
    MergeRefused,
    Request,
    RequestStatus,
    Review,
    ReviewState,
)
from reconciler.gitrepo.credentials import Secret
from reconciler.promotions import BRANCH_PREFIX, parse_branch, parse_marker

DEFAULT_URL = "https://api.github.com"
LOOK_BACK = 30  # closed pulls searched for merges not yet seen live
DEPLOY_TASK = "reconciler:promotion"
_CACHE_LIMIT = 2_000
_REVIEW_STATES: dict[str, ReviewState] = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "COMMENTED": "commented",
}
_HIDDEN_FIX = (
    "give the token admin read (or the App 'Administration: read'), or add a ruleset whose "
    "pull_request rule requires review from code owners"
)


# PyGithub adds a StreamHandler of its own to the "github" logger when imported, so its
# records (a retry's "Request GET /repos/... failed with 403", at INFO) reached stderr as raw
# text past the daemon's handler, which withholds library messages (a library may quote a
# credential) and writes JSON for --log-format json. Its records go through that handler only.
for _handler in logging.getLogger("github").handlers[:]:
    if type(_handler) is logging.StreamHandler:
        logging.getLogger("github").removeHandler(_handler)


class _TokenAuth(github.Auth.Auth):
    """A token read at each request (a rotated token file is picked up); never shown."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._read = token

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._read()

    @property
    def _masked_token(self) -> str:
        return "token (removed)"

    def __repr__(self) -> str:
        return "_TokenAuth('***')"


class _Retry(github.GithubRetry):
    """GithubRetry that reports every response and sleeps through an injectable ``pause``."""

    def __init__(
        self,
        *,
        observe: Callable[[str, int], None],
        pause: Callable[[float], None],
        **kwargs: Any,
    ) -> None:
        self._observe = observe
        self._pause = pause
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> _Retry:
        kw.update(observe=self._observe, pause=self._pause)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # urllib3 asks this of every response it receives: the one place that sees them all.
        self._observe(method, status_code)
        return bool(super().is_retry(method, status_code, has_retry_after))

    def sleep(self, response: Any = None) -> None:
        after = self.get_retry_after(response) if response is not None else None
        wait = after if after is not None else self.get_backoff_time()
        if wait > 0:
            self._pause(wait)


class GitHubForge:
    """The Forge port over the GitHub REST API for the repository ``owner/name``."""

    def __init__(
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
    ) -> None:
        owner, _, name = repo_full_name.partition("/")
        if not owner or not name or "/" in name:
            raise PermanentError(f"{repo_full_name!r} is not a GitHub repository like owner/name")
        self.owner, self.name = owner, name
        self.full_name = repo_full_name
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self._on_request = on_request
        self._on_rate_limit = on_rate_limit
        read = (lambda: token) if isinstance(token, str) else token
        retry = _Retry(
            observe=self._observed,
            pause=sleep,
            total=retries,
            backoff_factor=1.0,
            raise_on_status=False,  # the last answer reaches PyGithub, which raises on it
            max_rate_limit_wait=max_wait,
        )
        self._gh = github.Github(
            base_url=self.base_url,
            auth=_TokenAuth(read),
            timeout=timeout,
            retry=retry,
            per_page=100,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        self._api = f"/repos/{quote(owner)}/{quote(name)}"
        self._etags: dict[str, tuple[str, Any]] = {}  # url -> (ETag, body of its last 200)
        # number -> GitHub's latest answer about that pull (a read's or a write's): who wrote
        # it (never changes) and whom it asks to review, so asking needs no read first.
        self._pulls: dict[int, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"GitHubForge({self.full_name!r}, base_url={self.base_url!r})"

    # -- reads ---------------------------------------------------------------------------

    def requests(self) -> tuple[Request, ...]:
        """Open pulls of this repository whose head branch starts with ``promote/``."""
        with self._guard("list the open pull requests"):
            pulls = self._list(f"{self._api}/pulls", {"state": "open"})
            ours = sorted((p for p in pulls if self._is_promotion(p)), key=lambda p: p["number"])
            return tuple(self._to_request(p) for p in ours)

    def request(self, number: int) -> Request:
        """One pull request, whatever its state."""
        with self._guard(f"read pull request #{number}"):
            return self._to_request(self._pull(number))

    def awaiting_live(self) -> tuple[Request, ...]:
        """Recently merged promotion pulls whose deployment has no ``success`` status yet."""
        with self._guard("list recently merged pull requests"):
            params = {"state": "closed", "sort": "updated", "direction": "desc"}
            pulls = self._list(f"{self._api}/pulls", params, pages=1, per_page=LOOK_BACK)
            found = []
            for pull in sorted(pulls, key=lambda p: p["number"]):
                if not (pull.get("merged_at") and self._is_promotion(pull)):
                    continue
                deployment = self._deployment(pull)
                if deployment is None or not self._succeeded(deployment["id"]):
                    found.append(self._to_request(pull))
            return tuple(found)

    def members(self, team: str) -> frozenset[str] | None:
        """``@user`` handles of ``@org/team``; None when GitHub will not say (403/404)."""
        org, _, slug = team.removeprefix("@").partition("/")
        if not org or not slug:
            return None
        url = f"/orgs/{quote(org)}/teams/{quote(slug)}/members"
        with self._guard(f"list the members of {team}"):
            try:
                people = self._list(url, {})
            except GithubException as refused:
                if refused.status in (403, 404):
                    return None
                raise
            return frozenset(f"@{person['login']}" for person in people)

    def codeowner_enforcement(self, base_branch: str) -> Enforcement:
        """Whether GitHub itself refuses a merge into ``base_branch`` without a code owner."""
        branch = quote(base_branch, safe="")
        with self._guard(f"read the review rules of {base_branch}"):
            rules = self._list(f"{self._api}/rules/branches/{branch}", {})
            for rule in rules:
                parameters = rule.get("parameters") or {}
                if rule.get("type") == "pull_request" and parameters.get(
                    "require_code_owner_review"
                ):
                    return Enforcement(
                        True,
                        f"ruleset {rule.get('ruleset_id')} requires review from code owners to "
                        f"merge into {base_branch} (check who may bypass it)",
                    )
            try:
                protection = self._get(f"{self._api}/branches/{branch}/protection", {})
            except GithubException as refused:
                if refused.status not in (403, 404):
                    raise
                if _message(refused) == "Branch not protected":
                    return Enforcement(
                        False,
                        f"{base_branch} is not protected and no active ruleset requires review "
                        f"from code owners: turn on 'Require review from Code Owners' in its "
                        "branch protection, or add a ruleset with that pull_request rule",
                    )
                return Enforcement(
                    False,
                    f"cannot read the branch protection of {base_branch} (GitHub answered "
                    f"{refused.status}) and no active ruleset requires review from code "
                    f"owners: {_HIDDEN_FIX}",
                )
            return _classic(base_branch, protection)

    def record_rollback(self, env: str, app: str, digest: str, commit: str) -> bool:
        """Mark the environment's deployment of ``digest`` failed: a person rolled it back."""
        with self._guard(f"record the rollback of {digest[:15]} in {env}"):
            params = {"environment": env, "task": DEPLOY_TASK}
            for deployment in self._list(f"{self._api}/deployments", params, pages=1):
                payload = deployment.get("payload") or {}
                if not isinstance(payload, dict) or payload.get("digest") != digest:
                    continue
                url = f"{self._api}/deployments/{deployment['id']}/statuses"
                states = [s.get("state") for s in self._list(url, {}, pages=1)]
                if states and states[0] == "failure":
                    return False  # newest first: already recorded
                note = f"{app} rolled back by hand in {commit[:12]}"
                self._write("POST", url, {"state": "failure", "description": note})
                return True
            return False

    def can_push(self) -> bool:
        """Whether this identity may push to the repository (for `reconciler doctor`)."""
        with self._guard("read the repository's permissions"):
            repository = self._get(self._api, {})
            permissions = repository.get("permissions") or {}
            return bool(permissions.get("push"))

    def codeowners_errors(self, ref: str) -> tuple[str, ...]:
        """GitHub's complaints about the CODEOWNERS file at ``ref``; () when it has none."""
        with self._guard(f"read the CODEOWNERS errors at {ref}"):
            try:
                found = self._get(f"{self._api}/codeowners/errors", {"ref": ref})
            except GithubException as refused:
                if refused.status == 404:  # no CODEOWNERS file: the planner reports that
                    return ()
                raise
            return tuple(
                f"{e.get('path')}:{e.get('line')}:{e.get('column')}: {e.get('kind')}"
                + (f": {e['suggestion']}" if e.get("suggestion") else "")
                for e in found.get("errors", ())
            )

    # -- writes --------------------------------------------------------------------------

    def open(
        self, head_branch: str, base_branch: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Request:
        """Open a pull for ``head_branch``, or return the open one it already has."""
        with self._guard(f"open a pull request for {head_branch}"):
            # No list first: GitHub keeps one open pull per head and answers 422 to a second,
            # so the rare retry pays for the lookup instead of every open.
            fields = {"title": title, "head": head_branch, "base": base_branch, "body": body}
            try:
                _, created = self._write("POST", f"{self._api}/pulls", fields)
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
                _, pull["labels"] = self._write("POST", url, {"labels": list(labels)})
            # A pull created a moment ago has no reviews; the next cycle's poll reads them.
            # updated_at stays the creation's: the label answer does not say the new one.
            return self._to_request(pull, reviews=[])

    def update(self, number: int, title: str, body: str, comment: str | None) -> Request:
        """Rewrite title and body, and add ``comment`` to the conversation when given."""
        with self._guard(f"update pull request #{number}"):
            url = f"{self._api}/pulls/{number}"
            _, edited = self._write("PATCH", url, {"title": title, "body": body})
            if comment:
                self._write("POST", f"{self._api}/issues/{number}/comments", {"body": comment})
            return self._to_request(edited)  # the edit answers the whole pull

    def request_reviews(self, number: int, reviewers: tuple[str, ...]) -> None:
        """Ask users (``@login``) and teams (``@org/slug``) to review; never the author."""
        with self._guard(f"request reviews on pull request #{number}"):
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
                _, answer = self._write("POST", url, {"reviewers": users, "team_reviewers": teams})
                self._remember(answer)

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        """Add ``labels`` (the issue's labels endpoint adds; other labels stay)."""
        with self._guard(f"label pull request #{number}"):
            url = f"{self._api}/issues/{number}/labels"
            _, answer = self._write("POST", url, {"labels": list(labels)})
            if number in self._pulls:  # the answer is every label the pull has now
                self._pulls[number]["labels"] = answer

    def merge(self, number: int, expected_head: str, message: str) -> str:
        """Merge (a merge commit) if the head is still ``expected_head``; the base's commit."""
        with self._guard(f"merge pull request #{number}"):
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
                _, merged = self._write("PUT", f"{self._api}/pulls/{number}/merge", fields)
            except GithubException as refused:
                if refused.status not in (405, 409, 422):
                    raise
                said = _message(refused)
                if refused.status == 409 and said.startswith("Head branch"):
                    said += " (the head changed since it was planned)"
                raise MergeRefused(
                    f"GitHub refused to merge pull request #{number}: {said}"
                ) from None
            merged_pull = {**pull, "merged_at": True, "merge_commit_sha": merged["sha"]}
            deployment = self._ensure_deployment(merged_pull, number)
            # The audit on GitHub: merged, on its way; record_live turns it into success.
            url = f"{self._api}/deployments/{deployment['id']}/statuses"
            self._write("POST", url, {"state": "in_progress", "description": "merged"})
            return str(merged["sha"])

    def close(self, number: int, comment: str) -> None:
        """Comment, then close without merging; a pull already closed is left as it is."""
        with self._guard(f"close pull request #{number}"):
            if self._pull(number, fresh=True)["state"] != "open":
                return
            self._write("POST", f"{self._api}/issues/{number}/comments", {"body": comment})
            self._write("PATCH", f"{self._api}/pulls/{number}", {"state": "closed"})

    def record_live(self, number: int, at: datetime) -> None:
        """Give the merge commit's deployment a ``success`` status; the first one is kept."""
        with self._guard(f"record pull request #{number} as live"):
            pull = self._pull(number)
            sha = pull.get("merge_commit_sha")
            if not pull.get("merged_at") or not sha:
                return
            deployment = self._ensure_deployment(pull, number)
            if self._succeeded(deployment["id"]):
                return
            url = f"{self._api}/deployments/{deployment['id']}/statuses"
            seen = at.astimezone(UTC).isoformat(timespec="seconds")
            status = {"state": "success", "description": f"live since {seen}"}
            # auto_inactive: the environment's earlier deployments become inactive (superseded).
            self._write("POST", url, {**status, "auto_inactive": True})

    def _ensure_deployment(self, pull: dict[str, Any], number: int) -> dict[str, Any]:
        """The GitHub Deployment of a merged promotion, created on first use."""
        deployment = self._deployment(pull)
        if deployment is not None:
            return deployment
        target = parse_branch(pull["head"]["ref"])
        marker = parse_marker(pull.get("body") or "")
        fields = {
            "ref": pull["merge_commit_sha"],
            "task": DEPLOY_TASK,
            "environment": target[0] if target else "production",
            "auto_merge": False,
            "required_contexts": [],
            "payload": {"request": number, "digest": marker.digest if marker else ""},
            "description": f"promotion #{number}",
            "production_environment": False,
        }
        _, created = self._write("POST", f"{self._api}/deployments", fields)
        # GitHub has no create-if-absent: a replica recording the merge live may create one
        # at the same moment. Ids rise, so the first one is the lowest and any list made
        # after our creation shows it; a later duplicate is ours to remove.
        first = self._deployment(pull)
        if first is None or first["id"] == created["id"]:
            return dict(created)
        url = f"{self._api}/deployments/{created['id']}"
        # Only an inactive deployment may be deleted when the repository has others.
        note = {"state": "inactive", "description": f"duplicate of deployment {first['id']}"}
        self._write("POST", f"{url}/statuses", note)
        self._write("DELETE", url, {})
        return first

    # -- internals -----------------------------------------------------------------------

    def _observed(self, method: str, status: int) -> None:
        if self._on_request is not None:
            self._on_request(method, status)

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Turn what GitHub or the network says into the project's errors, secret-free."""
        try:
            yield
        except RateLimitExceededException as limited:
            raise TransientError(
                f"could not {what}: GitHub's rate limit is spent ({_message(limited)}); "
                "it will be tried again next cycle"
            ) from None
        except GithubException as refused:
            said = _message(refused)
            if refused.status >= 500 or refused.status == 429:
                raise TransientError(
                    f"could not {what}: GitHub answered {refused.status} ({said}); "
                    "it will be tried again next cycle"
                ) from None
            if refused.status == 401:
                raise PermanentError(
                    f"could not {what}: GitHub at {self.base_url} rejected the token ({said}); "
                    "check that it is valid and not expired"
                ) from None
            fix = ": the token lacks a permission on " + self.full_name
            raise PermanentError(
                f"could not {what}: GitHub answered {refused.status} ({said})"
                + (fix if refused.status == 403 else "")
            ) from None
        except OSError as failed:  # requests' connection errors are OSErrors
            raise TransientError(
                f"could not {what}: no answer from GitHub at {self.base_url} "
                f"({type(failed).__name__}); it will be tried again next cycle"
            ) from None
        finally:
            remaining = self._gh.requester.rate_limiting[0]
            if self._on_rate_limit is not None and remaining >= 0:
                self._on_rate_limit(float(remaining))

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
            reviews = self._list(f"{self._api}/pulls/{number}/reviews", {})
        merged_at = _time(pull.get("merged_at"))
        state: RequestStatus = "merged" if merged_at else "closed"
        if pull["state"] == "open":
            state = "open"
        requested = [f"@{u['login']}" for u in pull.get("requested_reviewers") or ()]
        requested += [f"@{self.owner}/{t['slug']}" for t in pull.get("requested_teams") or ()]
        return Request(
            number=number,
            head_branch=str(pull["head"]["ref"]),
            head_commit=str(pull["head"]["sha"]),
            base_branch=str(pull["base"]["ref"]),
            title=str(pull["title"]),
            body=str(pull.get("body") or ""),
            author=f"@{pull['user']['login']}",
            labels=tuple(str(label["name"]) for label in pull.get("labels") or ()),
            state=state,
            created_at=_time(pull["created_at"]) or self._clock(),
            updated_at=_time(pull["updated_at"]) or self._clock(),
            reviews=tuple(
                Review(
                    f"@{r['user']['login']}",
                    _REVIEW_STATES[r["state"]],
                    str(r["commit_id"]),
                    _time(r.get("submitted_at")) or self._clock(),
                    str(r.get("body") or ""),
                )
                for r in reviews
                if r.get("state") in _REVIEW_STATES and r.get("user")
            ),
            requested_reviewers=tuple(sorted(requested, key=str.casefold)),
            merged_commit=str(pull["merge_commit_sha"]) if merged_at else None,
            merged_at=merged_at,
        )

    def _is_promotion(self, pull: dict[str, Any]) -> bool:
        head = pull.get("head") or {}
        repo = head.get("repo") or {}
        from_here = str(repo.get("full_name", "")).casefold() == self.full_name.casefold()
        return from_here and str(head.get("ref", "")).startswith(BRANCH_PREFIX)

    def _pull(self, number: int, fresh: bool = False) -> dict[str, Any]:
        url = f"{self._api}/pulls/{number}"
        try:
            pull: dict[str, Any] = self._get(url, {}, conditional=not fresh)
        except GithubException as refused:
            if refused.status == 404:
                raise PermanentError(
                    f"pull request #{number} does not exist in {self.full_name}"
                ) from None
            raise
        return pull

    def _open_for(self, head_branch: str, base_branch: str) -> dict[str, Any] | None:
        params = {"state": "open", "head": f"{self.owner}:{head_branch}", "base": base_branch}
        found = self._list(f"{self._api}/pulls", params)
        return found[0] if found else None

    def _deployment(self, pull: dict[str, Any]) -> dict[str, Any] | None:
        params = {"sha": str(pull["merge_commit_sha"]), "task": DEPLOY_TASK}
        found = self._list(f"{self._api}/deployments", params, pages=1)
        # The first created (lowest id) is the merge's; a replica's duplicate is removed.
        return min(found, key=lambda d: int(d["id"])) if found else None

    def _succeeded(self, deployment_id: int) -> bool:
        statuses = self._list(f"{self._api}/deployments/{deployment_id}/statuses", {})
        return any(s.get("state") == "success" for s in statuses)

    def _list(
        self, url: str, params: dict[str, str], pages: int = 10, per_page: int = 100
    ) -> list[dict[str, Any]]:
        """Every item of a paged list (at most ``pages`` pages), each page a conditional GET."""
        items: list[dict[str, Any]] = []
        query: dict[str, str] | None = {**params, "per_page": str(per_page)}
        next_url: str | None = url
        for _ in range(pages):
            if next_url is None:
                break
            page, link = self._get_page(next_url, query)
            items.extend(page)
            next_url, query = _next_link(link), None
        return items

    def _get(self, url: str, params: dict[str, str], conditional: bool = True) -> Any:
        body, _ = self._get_page(url, params, conditional)
        return body

    def _get_page(
        self, url: str, params: dict[str, str] | None, conditional: bool = True
    ) -> tuple[Any, str]:
        key = url + ("?" + urlencode(sorted(params.items())) if params else "")
        cached = self._etags.get(key) if conditional else None
        headers = {"If-None-Match": cached[0]} if cached else {}
        status, answer, output = self._gh.requester.requestJson("GET", url, params, headers)
        if status == 304 and cached is not None:
            return cached[1][0], cached[1][1]
        data = _json(output)
        if status >= 400:
            raise github.Requester.Requester.createException(status, answer, data)
        link = str(answer.get("link", ""))
        if "etag" in answer:
            if len(self._etags) > _CACHE_LIMIT:
                self._etags.clear()
            self._etags[key] = (str(answer["etag"]), (data, link))
        return data, link

    def _write(self, verb: str, url: str, fields: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        return self._gh.requester.requestJsonAndCheck(verb, url, input=fields)


class _JwtAuth(_TokenAuth):
    """A GitHub App's JWT, sent as a bearer token; never shown."""

    @property
    def token_type(self) -> str:
        return "Bearer"

    def __repr__(self) -> str:
        return "_JwtAuth('***')"


class AppTokenEndpoint:
    """``POST /app/installations/{id}/access_tokens`` as a GitHub App (the ``AccessTokens``
    port of ``reconciler.forge.github_app``); answers GitHub's status and JSON body."""

    def __init__(self, base_url: str = DEFAULT_URL, *, timeout: int = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"AppTokenEndpoint({self.base_url!r})"

    def __call__(self, app_jwt: Secret, installation_id: int) -> tuple[int, dict[str, Any]]:
        # A client per call: one call an hour, and the JWT is new each time. No retries:
        # a failed mint is retried by the next request that needs a token.
        gh = github.Github(
            base_url=self.base_url,
            auth=_JwtAuth(app_jwt.reveal),
            timeout=self._timeout,
            retry=None,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        url = f"/app/installations/{installation_id}/access_tokens"
        status, _, output = gh.requester.requestJson("POST", url, input={})
        data = _json(output)
        return status, data if isinstance(data, dict) else {}


def _classic(branch: str, protection: dict[str, Any]) -> Enforcement:
    reviews = protection.get("required_pull_request_reviews") or {}
    if not reviews.get("require_code_owner_reviews"):
        return Enforcement(
            False,
            f"the branch protection of {branch} does not require review from code owners: "
            "turn on 'Require review from Code Owners', or add a ruleset with that "
            "pull_request rule",
        )
    if (protection.get("enforce_admins") or {}).get("enabled"):
        return Enforcement(
            True, f"the branch protection of {branch} requires review from code owners"
        )
    return Enforcement(
        True,
        f"the branch protection of {branch} requires review from code owners, but "
        "administrators can bypass it: turn on 'Do not allow bypassing the above settings'",
    )


def _message(refused: GithubException) -> str:
    data = refused.data if isinstance(refused.data, dict) else {}
    return str(data.get("message") or f"status {refused.status}").strip()


def _json(output: str | object) -> Any:
    if not isinstance(output, str) or not output:
        return None
    try:
        return json.loads(output)
    except ValueError:
        return {"message": output[:200]}


def _next_link(link: str) -> str | None:
    for part in link.split(","):
        target, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return target.strip().strip("<>")
    return None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
