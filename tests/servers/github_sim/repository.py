"""Routes about the repository itself: its metadata, branches, files, protection, rulesets,
and CODEOWNERS errors.

Branch protection is an administrator's view: GitHub answers 404 to anyone else (and 403
to an app without the administration permission), which is why readers fall back on
``/rules/branches/{branch}``, open to anyone who can read the repository.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from reconciler import codeowners
from tests.servers.github_sim import enforcement, pushcheck
from tests.servers.github_sim.calls import Call, Context, Reply, Route, fail, not_found, ok


def get_repo(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}"""
    return ok(ctx.shapes.repository(call.login, full=True))


def list_branches(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/branches"""
    return ok(
        [ctx.shapes.branch_short(name, sha) for name, sha in ctx.world.git.branches()], paged=True
    )


def get_branch(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/branches/{branch}"""
    branch = unquote(call.params["branch"])
    tip = ctx.world.git.tip(branch)
    if tip is None:
        return fail(404, "Branch not found")
    return ok(ctx.shapes.branch(branch, tip))


def get_protection(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/branches/{branch}/protection"""
    found = _protection(ctx, call)
    if isinstance(found, Reply):
        return found
    branch, protection = found
    return ok(ctx.shapes.protection(branch, protection))


def get_review_protection(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/branches/{branch}/protection/required_pull_request_reviews"""
    found = _protection(ctx, call)
    if isinstance(found, Reply):
        return found
    branch, protection = found
    if protection.reviews is None:
        return fail(404, "Required pull request reviews not enabled.")
    return ok(ctx.shapes.review_protection(branch, protection))


def get_required_signatures(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"""
    found = _protection(ctx, call)
    if isinstance(found, Reply):
        return found
    branch, protection = found
    return ok(ctx.shapes.required_signatures(branch, protection.required_signatures))


def set_required_signatures(ctx: Context, call: Call) -> Reply:
    """POST (turn on) and DELETE (turn off)
    /repos/{owner}/{repo}/branches/{branch}/protection/required_signatures"""
    found = _protection(ctx, call)
    if isinstance(found, Reply):
        return found
    branch, protection = found
    protection.required_signatures = call.method == "POST"
    pushcheck.write_rules(ctx.world)
    if call.method == "DELETE":
        return Reply(204, None)
    return ok(ctx.shapes.required_signatures(branch, protection.required_signatures))


def _protection(ctx: Context, call: Call) -> Reply | tuple[str, Any]:
    world = ctx.world
    hidden = world.faults.hide_protection
    if hidden or (call.installation is None and not world.is_admin(call.who)):
        return not_found()
    branch = unquote(call.params["branch"])
    if world.git.tip(branch) is None:
        return fail(404, "Branch not found")
    protection = world.protection.get(branch)
    if protection is None:
        return fail(404, "Branch not protected")
    return branch, protection


def branch_rules(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/rules/branches/{branch}"""
    if ctx.world.faults.no_rulesets:
        return not_found()
    branch = unquote(call.params["branch"])
    rules = [
        rule
        for ruleset in enforcement.active_rulesets(ctx.world, branch)
        for rule in ctx.shapes.rules(ruleset, detailed=True)
    ]
    return ok(rules, paged=True)


def list_rulesets(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/rulesets"""
    if ctx.world.faults.no_rulesets:
        return not_found()
    rulesets = sorted(ctx.world.rulesets.values(), key=lambda r: r.id)
    return ok([ctx.shapes.ruleset(r, full=False) for r in rulesets], paged=True)


def get_ruleset(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/rulesets/{ruleset_id}"""
    ruleset_id = call.params["ruleset_id"]
    ruleset = ctx.world.rulesets.get(int(ruleset_id)) if ruleset_id.isdigit() else None
    if ruleset is None or ctx.world.faults.no_rulesets:
        return not_found()
    if ctx.world.faults.hide_rulesets:
        return fail(403, "Resource not accessible by personal access token")
    shape = ctx.shapes.ruleset(ruleset, full=True, viewer=call.who)
    if ctx.world.faults.omit_bypass:
        del shape["current_user_can_bypass"]
    return ok(shape)


def get_content(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/contents/{path}"""
    world = ctx.world
    ref = call.query.get("ref") or world.default_branch
    commit = world.git.resolve(ref)
    if commit is None:
        return fail(404, f"No commit found for the ref {ref}")
    path = unquote(call.params["path"]).strip("/")
    found = world.git.entry(commit, path)
    if found is None:
        return not_found()
    if isinstance(found, list):
        return ok([ctx.shapes.content(entry, ref, None) for entry in found])
    return ok(ctx.shapes.content(found, ref, world.git.read(commit, path)))


def codeowners_errors(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/codeowners/errors"""
    world = ctx.world
    ref = call.query.get("ref") or world.default_branch
    commit = world.git.resolve(ref)
    if commit is None:
        return not_found()
    parsed = codeowners.find(lambda path: world.git.read(commit, path))
    if parsed.source is None:
        return not_found()
    data = world.git.read(commit, parsed.source) or b""
    lines = data.decode("utf-8", errors="replace").splitlines()
    errors = list(parsed.errors)
    for rule in parsed.rules:
        for owner in rule.owners:
            if not enforcement.valid_owner(world, owner):
                errors.append(_unknown_owner(lines, rule.line, owner))
    errors.sort(key=lambda e: (e.line, e.column))
    return ok(ctx.shapes.codeowners_errors([e.as_github(parsed.source) for e in errors]))


def _unknown_owner(lines: list[str], number: int, owner: str) -> codeowners.LineError:
    source = lines[number - 1].rstrip()
    return codeowners.LineError(
        number,
        f"{owner} does not exist or cannot write",
        kind="Unknown owner",
        column=source.find(owner) + 1,
        source=source,
        suggestion=f"make sure {owner} exists and has write access to the repository",
    )


ROUTES = [
    Route("GET", "/repos/{owner}/{repo}", get_repo),
    Route("GET", "/repos/{owner}/{repo}/branches", list_branches),
    Route("GET", "/repos/{owner}/{repo}/branches/{branch}", get_branch),
    Route(
        "GET",
        "/repos/{owner}/{repo}/branches/{branch}/protection",
        get_protection,
        permission="administration",
    ),
    Route(
        "GET",
        "/repos/{owner}/{repo}/branches/{branch}/protection/required_pull_request_reviews",
        get_review_protection,
        permission="administration",
    ),
    *(
        Route(
            method,
            "/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures",
            get_required_signatures if method == "GET" else set_required_signatures,
            permission="administration",
        )
        for method in ("GET", "POST", "DELETE")
    ),
    Route("GET", "/repos/{owner}/{repo}/rules/branches/{branch}", branch_rules),
    Route("GET", "/repos/{owner}/{repo}/rulesets", list_rulesets),
    Route("GET", "/repos/{owner}/{repo}/rulesets/{ruleset_id}", get_ruleset),
    Route("GET", "/repos/{owner}/{repo}/contents/{path}", get_content),
    Route("GET", "/repos/{owner}/{repo}/codeowners/errors", codeowners_errors),
]
