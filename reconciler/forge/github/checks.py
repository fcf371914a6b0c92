"""A commit's check runs and commit statuses, and the checks a branch requires.

- Check runs: ``GET /repos/{owner}/{repo}/commits/{ref}/check-runs`` ("List check runs for
  a Git reference"), whose ``filter=latest`` (the default) gives the most recent run of each
  name. A run not ``completed`` waits; a completed one passes when its conclusion is
  ``success``, ``neutral`` or ``skipped``, the conclusions GitHub accepts for a required
  status check ("About protected branches", "Require status checks before merging"); any
  other (``failure``, ``cancelled``, ``timed_out``, ``action_required``, ``stale``,
  ``startup_failure``) fails.
- Commit statuses: ``GET /repos/{owner}/{repo}/commits/{ref}/status`` ("Get the combined
  status for a specific reference"): the latest status of each context, ``success``,
  ``pending``, ``failure`` or ``error``.
- Required checks of a branch: the ``required_status_checks`` rules of the rulesets that
  apply to it (``GET /rules/branches/{branch}``, readable by anyone who can read the
  repository) and its classic protection's ``required_status_checks`` as ``GET
  /branches/{branch}`` shows it to any reader.

Every read is a conditional GET (client.py): asking again about an unchanged commit costs
no rate limit. A source repository (an image's ``org.opencontainers.image.source``) is read
the same way when it is on the same GitHub (compare.py's ``repository_of``); a token that
cannot read it gets a 404, said as the gate's reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

from reconciler.errors import PermanentError
from reconciler.forge.github.client import Client
from reconciler.forge.github.compare import repository_of
from reconciler.forge.port import STATUS_STATES, CheckState, CommitCheck, CommitChecks

PASSING = frozenset({"success", "neutral", "skipped"})
_PAGES = 5  # 500 check runs on one commit: more than any CI writes


def commit_checks(
    client: Client, sha: str, required_on: str | None, repository: str | None = None
) -> CommitChecks:
    """The check runs and statuses on ``sha`` (of the config repo, or of the source
    repository URL ``repository``); with ``required_on``, that branch's required checks."""
    ref = quote(sha, safe="")
    api, where = client.api, ""
    if repository is not None:
        source = repository_of(repository, client.base_url)
        if source is None:
            raise PermanentError(
                f"{repository} is not a repository on the GitHub at {client.base_url}; its "
                "checks cannot be read"
            )
        api, where = f"/repos/{quote(source[0])}/{quote(source[1])}", f" of {'/'.join(source)}"
    with client.guard(f"read the checks on commit {sha[:12]}{where}"):
        runs: list[dict[str, Any]] = []
        for page in range(1, _PAGES + 1):
            answer = client.get(
                f"{api}/commits/{ref}/check-runs",
                {"filter": "latest", "per_page": "100", "page": str(page)},
            )
            found = answer.get("check_runs") or []
            runs.extend(found)
            if len(runs) >= int(answer.get("total_count") or 0) or len(found) < 100:
                break
        combined = client.get(f"{api}/commits/{ref}/status", {"per_page": "100"})
        checks = [_run(run) for run in runs]
        checks += [_status(status) for status in combined.get("statuses") or ()]
        required = _required(client, required_on) if required_on else None
        return CommitChecks(sha=sha, checks=tuple(checks), required=required)


def run_state(status: str | None, conclusion: str | None) -> CheckState:
    """A check run's verdict from its ``status`` and ``conclusion``."""
    if status != "completed":
        return "pending"
    return "passed" if conclusion in PASSING else "failed"


def _run(run: dict[str, Any]) -> CommitCheck:
    status, conclusion = run.get("status"), run.get("conclusion")
    return CommitCheck(
        name=str(run.get("name") or ""),
        state=run_state(status, conclusion),
        conclusion=str(conclusion if status == "completed" else status),
        url=str(run.get("details_url") or run.get("html_url") or ""),
        at=_time(run.get("completed_at") or run.get("started_at")),
        kind="check-run",
    )


def _status(status: dict[str, Any]) -> CommitCheck:
    state = str(status.get("state") or "")
    return CommitCheck(
        name=str(status.get("context") or ""),
        state=STATUS_STATES.get(state, "failed"),
        conclusion=state,
        url=str(status.get("target_url") or ""),
        at=_time(status.get("updated_at") or status.get("created_at")),
        kind="status",
    )


def _required(client: Client, branch: str) -> tuple[str, ...]:
    """The check names ``branch`` requires, from its rulesets and its classic protection."""
    quoted = quote(branch, safe="")
    names: list[str] = []
    try:
        rules = client.list(f"{client.api}/rules/branches/{quoted}", {})
    except GithubException as refused:
        if refused.status != 404:  # 404: no rulesets on this GitHub (older GHES)
            raise
        rules = []
    for rule in rules:
        if rule.get("type") == "required_status_checks":
            parameters = rule.get("parameters") or {}
            names += [str(c["context"]) for c in parameters.get("required_status_checks") or ()]
    try:
        found = client.get(f"{client.api}/branches/{quoted}", {})
    except GithubException as refused:
        if refused.status != 404:
            raise
        found = {}
    checks = (found.get("protection") or {}).get("required_status_checks") or {}
    names += [str(c["context"]) for c in checks.get("checks") or ()]
    names += [str(context) for context in checks.get("contexts") or ()]
    return tuple(dict.fromkeys(n for n in names if n))


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
