"""Routes about deployments and their statuses.

A deployment pins the commit its ref points at when it is created. A ``success`` status
marks the earlier deployments of the same environment ``inactive`` (``auto_inactive``, on
by default), as GitHub does. GitHub's ``auto_merge`` of the default branch into an outdated
ref is not simulated: the ref is deployed as it is.
"""

from __future__ import annotations

from typing import Any

from tests.servers.github_sim.calls import Call, Context, Reply, Route, fail, invalid, not_found, ok
from tests.servers.github_sim.state import Deployment, DeploymentStatus, World

_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


def create_deployment(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/deployments"""
    world = ctx.world
    ref = call.field("ref")
    if not isinstance(ref, str) or not ref:
        return invalid("Deployment", "missing_field", "ref")
    sha = world.git.resolve(ref)
    if sha is None:
        return fail(422, f"No ref found for: {ref}")
    environment = str(call.field("environment", "production"))
    # GitHub's default ("Create a deployment"): true for "production", false otherwise.
    production = call.field("production_environment", environment == "production")
    if not isinstance(production, bool):
        return invalid("Deployment", "invalid", "production_environment")
    payload: Any = call.field("payload", {})
    deployment = Deployment(
        id=world.next_id(),
        sha=sha,
        ref=ref,
        task=str(call.field("task", "deploy")),
        environment=environment,
        description=call.field("description"),
        payload=payload if isinstance(payload, dict | str) else {},
        creator=world.user(call.who).login,
        created_at=world.clock(),
        transient_environment=bool(call.field("transient_environment", False)),
        production_environment=production,
    )
    world.deployments[deployment.id] = deployment
    return ok(ctx.shapes.deployment(deployment), status=201)


def list_deployments(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/deployments"""
    wanted = {k: call.query[k] for k in ("sha", "ref", "task", "environment") if k in call.query}
    found = [
        d
        for d in sorted(ctx.world.deployments.values(), key=lambda d: d.id, reverse=True)
        if all(getattr(d, key) == value for key, value in wanted.items())
    ]
    return ok([ctx.shapes.deployment(d) for d in found], paged=True)


def get_deployment(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/deployments/{deployment_id}"""
    deployment = _deployment(ctx.world, call.params["deployment_id"])
    if deployment is None:
        return not_found()
    return ok(ctx.shapes.deployment(deployment))


def delete_deployment(ctx: Context, call: Call) -> Reply:
    """DELETE /repos/{owner}/{repo}/deployments/{deployment_id}

    GitHub's rule ("Delete a deployment", REST docs): the only deployment of a repository
    may be deleted whatever its status; otherwise only an inactive one, that is one whose
    latest status is not ``success``, else 422.
    """
    world = ctx.world
    deployment = _deployment(world, call.params["deployment_id"])
    if deployment is None:
        return not_found()
    last = deployment.statuses[-1].state if deployment.statuses else None
    active = last is None or last == "success"
    if len(world.deployments) > 1 and active:
        return fail(
            422,
            "We cannot delete an active deployment unless it is the only deployment in a "
            "given environment.",
        )
    del world.deployments[deployment.id]
    return Reply(204, None)


def list_statuses(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses"""
    deployment = _deployment(ctx.world, call.params["deployment_id"])
    if deployment is None:
        return not_found()
    newest_first = list(reversed(deployment.statuses))
    return ok([ctx.shapes.deployment_status(deployment, s) for s in newest_first], paged=True)


def create_status(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses"""
    world = ctx.world
    deployment = _deployment(world, call.params["deployment_id"])
    if deployment is None:
        return not_found()
    state = call.field("state")
    if state not in _STATES:
        return invalid("DeploymentStatus", "invalid", "state")
    environment = str(call.field("environment") or deployment.environment)
    status = _status(world, call.who, str(state), environment, call)
    deployment.statuses.append(status)
    if state == "success" and call.field("auto_inactive", True):
        for other in world.deployments.values():
            last = other.statuses[-1] if other.statuses else None
            superseded = other is not deployment and other.environment == environment
            if superseded and last is not None and last.state == "success":
                other.statuses.append(_status(world, call.who, "inactive", environment))
    return ok(ctx.shapes.deployment_status(deployment, status), status=201)


def _status(
    world: World, creator: str, state: str, environment: str, call: Call | None = None
) -> DeploymentStatus:
    def text(name: str) -> str:
        value = call.field(name) if call is not None else None
        return str(value) if value else ""

    return DeploymentStatus(
        id=world.next_id(),
        state=state,
        description=text("description"),
        environment=environment,
        target_url=text("target_url") or text("log_url"),
        log_url=text("log_url") or text("target_url"),
        environment_url=text("environment_url"),
        creator=world.user(creator).login,
        created_at=world.clock(),
    )


def _deployment(world: World, number: str) -> Deployment | None:
    return world.deployments.get(int(number)) if number.isdigit() else None


ROUTES = [
    Route("GET", "/repos/{owner}/{repo}/deployments", list_deployments),
    Route("POST", "/repos/{owner}/{repo}/deployments", create_deployment),
    Route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}", get_deployment),
    Route("DELETE", "/repos/{owner}/{repo}/deployments/{deployment_id}", delete_deployment),
    Route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", list_statuses),
    Route("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", create_status),
]
