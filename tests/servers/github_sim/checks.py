"""Routes about a commit's checks: check runs (the Checks API) and commit statuses.

GitHub's rules kept here, each from its REST documentation:

- "Create a check run" (https://docs.github.com/rest/checks/runs#create-a-check-run): only a
  GitHub App may create one ("OAuth apps and authenticated users are not able to create a
  check suite"; 403 otherwise), with the ``checks`` permission. Giving a ``conclusion``
  sets the status to ``completed``; ``completed`` without a conclusion is refused (422).
  The head commit must exist (422).
- "List check runs for a Git reference"
  (https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference): ``ref``
  is a commit id or a branch; ``filter=latest`` (the default) gives the most recent run
  of each name and App, ``all`` every run; ``check_name`` and ``status`` narrow it. The
  answer is ``{"total_count", "check_runs"}``, newest first, paged.
- "Create a commit status" (https://docs.github.com/rest/commits/statuses#create-a-commit-status):
  users with push access; ``state`` one of error, failure, pending, success; ``context``
  defaults to ``default``; at most 1000 statuses per commit and context (422 beyond).
- "List commit statuses for a reference"
  (https://docs.github.com/rest/commits/statuses#list-commit-statuses-for-a-reference):
  every status, newest first, paged.
- "Get the combined status for a specific reference"
  (https://docs.github.com/rest/commits/statuses#get-the-combined-status-for-a-specific-reference):
  the latest status of each context; ``state`` is ``failure`` when any is error or
  failure, ``pending`` when there are none or any is pending, else ``success``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from tests.servers.github_sim.calls import Call, Context, Reply, Route, fail, invalid, not_found, ok
from tests.servers.github_sim.gitstore import GitStore
from tests.servers.github_sim.shapes.common import Json, node, timestamp
from tests.servers.github_sim.sources import source
from tests.servers.github_sim.state import CheckRun, CommitStatus


def _repo(ctx: Context, call: Call) -> tuple[str, GitStore] | None:
    """("owner/name" lower case, its git data): the config repo or a source repository."""
    owner, name = call.params["owner"], call.params["repo"]
    full = f"{owner}/{name}".lower()
    if full == ctx.world.full_name.lower():
        return full, ctx.world.git
    store = source(ctx, owner, name)
    return (full, store) if store is not None else None


_RUN_STATUSES = ("queued", "in_progress", "completed")
_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
)
_STATES = ("error", "failure", "pending", "success")
_PER_CONTEXT = 1000


def create_check_run(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/check-runs"""
    world = ctx.world
    app = call.installation
    if app is None:
        return fail(403, "You must authenticate via a GitHub App.")
    name, sha = call.field("name"), call.field("head_sha")
    if not isinstance(name, str) or not name:
        return invalid("CheckRun", "missing_field", "name")
    found = _repo(ctx, call)
    if found is None:
        return not_found()
    repo, store = found
    if not isinstance(sha, str) or not store.has_commit(sha) or len(sha) != 40:
        return fail(422, f"No commit found for SHA: {sha}")
    conclusion = call.field("conclusion")
    status = "completed" if conclusion is not None else call.field("status", "queued")
    if status not in _RUN_STATUSES or (conclusion is not None and conclusion not in _CONCLUSIONS):
        return invalid("CheckRun", "invalid", "status" if conclusion is None else "conclusion")
    if status == "completed" and conclusion is None:
        return invalid("CheckRun", "missing_field", "conclusion")
    now = world.clock()
    run = CheckRun(
        id=world.next_id(),
        sha=sha,
        name=name,
        status=str(status),
        repo=repo,
        conclusion=conclusion,
        details_url=str(call.field("details_url") or f"https://github.com/apps/{app.slug}"),
        app=app,
        started_at=now,
        completed_at=now if status == "completed" else None,
    )
    world.check_runs[run.id] = run
    return ok(_run(ctx, run), status=201)


def list_check_runs(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/commits/{ref}/check-runs"""
    world = ctx.world
    found = _repo(ctx, call)
    if found is None:
        return not_found()
    repo, store = found
    sha = store.resolve(unquote(call.params["ref"]))
    if sha is None:
        return fail(422, f"No commit found for SHA: {call.params['ref']}")
    runs = sorted(
        (r for r in world.check_runs.values() if r.sha == sha and r.repo == repo),
        key=lambda r: r.id,
        reverse=True,
    )
    if call.query.get("filter", "latest") == "latest":
        seen: set[tuple[str, int]] = set()
        latest = []
        for run in runs:
            if (run.name, run.app.id) not in seen:
                seen.add((run.name, run.app.id))
                latest.append(run)
        runs = latest
    if "check_name" in call.query:
        runs = [r for r in runs if r.name == call.query["check_name"]]
    if "status" in call.query:
        runs = [r for r in runs if r.status == call.query["status"]]
    page = _page(runs, call.query)
    return ok({"total_count": len(runs), "check_runs": [_run(ctx, r) for r in page]})


def create_status(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/statuses/{sha}"""
    world = ctx.world
    if call.installation is None and not world.can_write(call.who):
        return not_found()
    found = _repo(ctx, call)
    if found is None:
        return not_found()
    repo, store = found
    sha = unquote(call.params["sha"])
    if len(sha) != 40 or not store.has_commit(sha):
        return fail(422, f"No commit found for SHA: {sha}")
    state = call.field("state")
    if state not in _STATES:
        return invalid("Status", "invalid", "state")
    context = str(call.field("context") or "default")
    same = [s for s in world.statuses if (s.repo, s.sha, s.context) == (repo, sha, context)]
    if len(same) >= _PER_CONTEXT:
        return invalid("Status", "custom", "context", "This SHA and context has reached the "
                       "maximum number of statuses.")  # fmt: skip
    status = CommitStatus(
        id=world.next_id(),
        sha=sha,
        repo=repo,
        state=str(state),
        context=context,
        target_url=call.field("target_url"),
        description=call.field("description"),
        creator=call.who,
        created_at=world.clock(),
    )
    world.statuses.append(status)
    return ok(_status(ctx, status), status=201)


def list_statuses(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/commits/{ref}/statuses"""
    found = _repo(ctx, call)
    sha = found[1].resolve(unquote(call.params["ref"])) if found else None
    if found is None or sha is None:
        return not_found()
    mine = [s for s in reversed(ctx.world.statuses) if (s.repo, s.sha) == (found[0], sha)]
    return ok([_status(ctx, s) for s in mine], paged=True)


def combined_status(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/commits/{ref}/status"""
    world = ctx.world
    found = _repo(ctx, call)
    sha = found[1].resolve(unquote(call.params["ref"])) if found else None
    if found is None or sha is None:
        return not_found()
    latest: dict[str, CommitStatus] = {}
    for status in world.statuses:
        if (status.repo, status.sha) == (found[0], sha):
            latest[status.context] = status
    states = {s.state for s in latest.values()}
    state = (
        "failure"
        if states & {"error", "failure"}
        else "pending"
        if not states or "pending" in states
        else "success"
    )
    shown = sorted(latest.values(), key=lambda s: s.id, reverse=True)
    page = _page(shown, call.query)
    api = _api(ctx, found[0])
    return ok(
        {
            "state": state,
            "statuses": [_status(ctx, s, simple=True) for s in page],
            "sha": sha,
            "total_count": len(shown),
            "repository": ctx.shapes.repository(call.login),
            "commit_url": f"{api}/commits/{sha}",
            "url": f"{api}/commits/{sha}/status",
        }
    )


def _run(ctx: Context, run: CheckRun) -> Json:
    """``check-run``."""
    api, html = _api(ctx, run.repo), f"https://github.com/{run.repo}"
    return {
        "id": run.id,
        "head_sha": run.sha,
        "node_id": node("CR", run.id),
        "external_id": "",
        "url": f"{api}/check-runs/{run.id}",
        "html_url": f"{html}/runs/{run.id}",
        "details_url": run.details_url,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": timestamp(run.started_at),
        "completed_at": timestamp(run.completed_at) if run.completed_at else None,
        "output": {
            "title": None,
            "summary": None,
            "text": None,
            "annotations_count": 0,
            "annotations_url": f"{api}/check-runs/{run.id}/annotations",
        },
        "name": run.name,
        "check_suite": None,
        "app": ctx.shapes.app(run.app),
        "pull_requests": [],
    }


def _status(ctx: Context, status: CommitStatus, *, simple: bool = False) -> Json:
    """``status`` (``simple-commit-status`` in a combined status)."""
    user = ctx.shapes.user(status.creator)
    shape: Json = {
        "url": f"{_api(ctx, status.repo)}/statuses/{status.sha}",
        "avatar_url": user["avatar_url"],
        "id": status.id,
        "node_id": node("SC", status.id),
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": timestamp(status.created_at),
        "updated_at": timestamp(status.created_at),
    }
    if not simple:
        shape["creator"] = user
    return shape


def _api(ctx: Context, repo: str) -> str:
    return f"{ctx.shapes.api}/repos/{repo}"


def _page(items: list[Any], query: dict[str, str]) -> list[Any]:
    per_page = min(int(query.get("per_page", "30") or 30), 100)
    page = max(int(query.get("page", "1") or 1), 1)
    return items[(page - 1) * per_page : page * per_page]


# The routes that answer for the source repositories too, not only the config repo.
SOURCE_HANDLERS = (create_check_run, list_check_runs, create_status, list_statuses, combined_status)

ROUTES = [
    Route("POST", "/repos/{owner}/{repo}/check-runs", create_check_run, permission="checks"),
    Route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs", list_check_runs),
    Route("POST", "/repos/{owner}/{repo}/statuses/{sha}", create_status, permission="statuses"),
    Route("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses", list_statuses),
    Route("GET", "/repos/{owner}/{repo}/commits/{ref}/status", combined_status),
]
