"""Routes about who is calling: the user, team members, rate limits, and GitHub Apps.

An app authenticates with a JWT (RS256, signed with its private key, ``iss`` = app id) to
read itself and its installation and to mint installation tokens (``ghs_...``, one hour);
those tokens then act as the app's bot, limited to the permissions the app was granted.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from tests.servers.github_sim.calls import Call, Context, Reply, Route, fail, invalid, not_found, ok
from tests.servers.github_sim.shapes import timestamp
from tests.servers.github_sim.state import Token

_LEVELS = {"read": 1, "write": 2}


def get_user(ctx: Context, call: Call) -> Reply:
    """GET /user"""
    if call.installation is not None:
        return fail(403, "Resource not accessible by integration")
    return ok(ctx.shapes.private_user(call.who))


def team_members(ctx: Context, call: Call) -> Reply:
    """GET /orgs/{org}/teams/{team_slug}/members"""
    world = ctx.world
    team = world.team(call.params["team_slug"])
    if call.params["org"].lower() != world.owner.lower() or team is None:
        return not_found()
    members = [login for login in team.members if world.find_user(login) is not None]
    return ok([ctx.shapes.team_member(login) for login in members], paged=True)


def rate_limit(ctx: Context, call: Call) -> Reply:
    """GET /rate_limit (free: it never counts against the limit)"""
    bucket = ctx.world.bucket(call.identity)
    core = {
        "limit": bucket.limit,
        "remaining": max(bucket.limit - bucket.used, 0),
        "reset": bucket.reset,
        "used": bucket.used,
    }
    search = {"limit": 30, "remaining": 30, "reset": bucket.reset, "used": 0}
    graphql = {"limit": 5000, "remaining": 5000, "reset": bucket.reset, "used": 0}
    return ok({"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core})


def get_app(ctx: Context, call: Call) -> Reply:
    """GET /app"""
    return ok(ctx.shapes.app(call.jwt_app))


def repo_installation(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/installation"""
    return ok(ctx.shapes.installation(call.jwt_app))


def create_installation_token(ctx: Context, call: Call) -> Reply:
    """POST /app/installations/{installation_id}/access_tokens"""
    world, app = ctx.world, call.jwt_app
    if call.params["installation_id"] != str(app.installation_id):
        return not_found()
    wanted: Any = call.field("permissions") or dict(app.permissions)
    if not isinstance(wanted, dict) or any(
        _LEVELS.get(str(level), 3) > _LEVELS.get(app.permissions.get(str(name), ""), 0)
        for name, level in wanted.items()
    ):
        return invalid("Installation", "invalid", "permissions")
    token = "ghs_" + secrets.token_urlsafe(27)
    expires = world.clock() + timedelta(hours=1)
    world.tokens[token] = Token(app.bot.login, expires_at=expires, installation=app)
    body = {
        "token": token,
        "expires_at": timestamp(expires),
        "permissions": {str(k): str(v) for k, v in wanted.items()},
        "repository_selection": "selected",
    }
    return ok(body, status=201)


ROUTES = [
    Route("GET", "/user", get_user),
    Route("GET", "/orgs/{org}/teams/{team_slug}/members", team_members, permission="members"),
    Route("GET", "/rate_limit", rate_limit),
    Route("GET", "/app", get_app, auth="jwt"),
    Route("GET", "/repos/{owner}/{repo}/installation", repo_installation, auth="jwt"),
    Route(
        "POST",
        "/app/installations/{installation_id}/access_tokens",
        create_installation_token,
        auth="jwt",
    ),
]
