"""What GitHub itself enforces on a branch *for the daemon's own identity*: code-owner review,
proven from an active ruleset the daemon cannot bypass or from classic branch protection that
binds it, and GitHub's complaints about the CODEOWNERS file.

A rule the daemon's identity may bypass does not protect anything from the daemon, so it
counts as not enforced:

- a ruleset's ``current_user_can_bypass`` (``GET /repos/{o}/{r}/rulesets/{id}``, the only
  place GitHub says it: ``GET /rules/branches/{branch}`` does not) of ``always``,
  ``pull_requests_only`` or ``exempt``;
- classic protection with "Do not allow bypassing the above settings" (``enforce_admins``)
  off while the identity is a repository administrator, or the identity (or a team it is
  in) listed in "Allow specified actors to bypass required pull requests".

Where GitHub will not say (403, a field missing), the answer is "not enforced", naming what
to grant or turn on: the prod edge then waits, it is never opened on a guess. GitHub
Enterprise Server versions without rulesets answer 404 to the rules endpoint: branch
protection alone decides, and ``Enforcement.note`` says so.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from github.GithubException import GithubException

from reconciler.forge.github.client import Client, reason
from reconciler.forge.port import Enforcement

_HIDDEN_FIX = (
    "give the token admin read (or the App 'Administration: read'), or add a ruleset whose "
    "pull_request rule requires review from code owners"
)
_BYPASSING = ("always", "pull_requests_only", "exempt")
NO_RULESETS = (
    "this GitHub has no rulesets endpoint (GitHub Enterprise Server before rulesets): only "
    "the branch protection was read"
)


def codeowner_enforcement(client: Client, base_branch: str) -> Enforcement:
    """Whether GitHub itself refuses the daemon a merge into ``base_branch`` without a code
    owner's approval."""
    branch = quote(base_branch, safe="")
    with client.guard(f"read the review rules of {base_branch}"):
        found: list[Enforcement] = []
        try:
            rules: list[dict[str, Any]] | None = client.list(
                f"{client.api}/rules/branches/{branch}", {}
            )
        except GithubException as refused:
            if refused.status != 404:
                raise
            rules = None
        for ruleset_id in _code_owner_rulesets(rules or ()):
            verdict = _ruleset(client, ruleset_id, base_branch)
            if verdict.enforced:
                return verdict
            found.append(verdict)
        classic = _classic(client, base_branch)
        note = NO_RULESETS if rules is None else ""
        if classic.enforced:
            return Enforcement(enforced=True, reason=classic.reason, note=note)
        # The bypassable rulesets say more than "no protection requires it".
        reasons = [v.reason for v in found] or [classic.reason]
        return Enforcement(enforced=False, reason="; ".join(reasons), note=note)


def codeowners_errors(client: Client, ref: str) -> tuple[str, ...]:
    """GitHub's complaints about the CODEOWNERS file at ``ref``; () when it has none."""
    with client.guard(f"read the CODEOWNERS errors at {ref}"):
        try:
            found = client.get(f"{client.api}/codeowners/errors", {"ref": ref})
        except GithubException as refused:
            if refused.status == 404:  # no CODEOWNERS file: the planner reports that
                return ()
            raise
        return tuple(
            f"{e.get('path')}:{e.get('line')}:{e.get('column')}: {e.get('kind')}"
            + (f": {e['suggestion']}" if e.get("suggestion") else "")
            for e in found.get("errors", ())
        )


def _code_owner_rulesets(rules: Any) -> list[int]:
    """Ids of the rulesets whose pull_request rule requires review from code owners."""
    ids: list[int] = []
    for rule in rules:
        parameters = rule.get("parameters") or {}
        wanted = rule.get("type") == "pull_request" and parameters.get("require_code_owner_review")
        ruleset_id = rule.get("ruleset_id")
        if wanted and isinstance(ruleset_id, int) and ruleset_id not in ids:
            ids.append(ruleset_id)
    return ids


def _ruleset(client: Client, ruleset_id: int, branch: str) -> Enforcement:
    what = f"ruleset {ruleset_id} requires review from code owners to merge into {branch}"
    try:
        ruleset = client.get(f"{client.api}/rulesets/{ruleset_id}", {})
    except GithubException as refused:
        if refused.status not in (403, 404):
            raise
        return Enforcement(
            enforced=False,
            reason=f"{what}, but GitHub will not show the daemon that ruleset (it answered "
            f"{refused.status}: {reason(refused)}), so it cannot tell whether the daemon may "
            "bypass it: give the token or App 'Metadata: read' on the repository",
        )
    name = f"{what} ({ruleset.get('name') or 'unnamed'})"
    bypass = ruleset.get("current_user_can_bypass")
    if bypass == "never":
        return Enforcement(enforced=True, reason=f"{name}, and the daemon cannot bypass it")
    if bypass in _BYPASSING:
        return Enforcement(
            enforced=False,
            reason=f"{name}, but the daemon's identity may bypass it ({bypass}): remove the "
            "App, its team or its role from the ruleset's bypass list",
        )
    return Enforcement(
        enforced=False,
        reason=f"{name}, but GitHub did not say whether the daemon may bypass it (no "
        "current_user_can_bypass): upgrade GitHub Enterprise Server, or require review from "
        "code owners in the branch protection with 'Do not allow bypassing the above settings'",
    )


def _classic(client: Client, branch: str) -> Enforcement:
    try:
        protection = client.get(f"{client.api}/branches/{quote(branch, safe='')}/protection", {})
    except GithubException as refused:
        if refused.status not in (403, 404):
            raise
        if reason(refused) == "Branch not protected":
            return Enforcement(
                enforced=False,
                reason=f"{branch} is not protected and no active ruleset requires review from "
                "code owners: turn on 'Require review from Code Owners' in its branch "
                "protection, or add a ruleset with that pull_request rule",
            )
        return Enforcement(
            enforced=False,
            reason=f"cannot read the branch protection of {branch} (GitHub answered "
            f"{refused.status}) and no active ruleset binding the daemon requires review from "
            f"code owners: {_HIDDEN_FIX}",
        )
    reviews = protection.get("required_pull_request_reviews") or {}
    if not reviews.get("require_code_owner_reviews"):
        return Enforcement(
            enforced=False,
            reason=f"the branch protection of {branch} does not require review from code owners: "
            "turn on 'Require review from Code Owners', or add a ruleset with that "
            "pull_request rule",
        )
    required = f"the branch protection of {branch} requires review from code owners"
    bypass = _allowed_to_bypass(client, reviews.get("bypass_pull_request_allowances") or {})
    if bypass:
        return Enforcement(
            enforced=False,
            reason=f"{required}, but {bypass}: remove it from 'Allow specified actors to bypass "
            "required pull requests'",
        )
    if (protection.get("enforce_admins") or {}).get("enabled"):
        return Enforcement(enforced=True, reason=f"{required}, administrators included")
    admin = (client.get(client.api, {}).get("permissions") or {}).get("admin")
    if admin is False:
        return Enforcement(
            enforced=True,
            reason=f"{required}; the daemon is not an administrator, so it cannot bypass it",
        )
    said = (
        "the daemon's identity is a repository administrator"
        if admin
        else ("GitHub does not say whether the daemon's identity is an administrator")
    )
    return Enforcement(
        enforced=False,
        reason=f"{required}, but administrators may bypass it and {said}: turn on 'Do not "
        "allow bypassing the above settings' (Include administrators)",
    )


def _allowed_to_bypass(client: Client, allowances: dict[str, Any]) -> str:
    """Why the daemon's identity may be in the bypass allowances; "" when it is not."""
    users = {str(u.get("login", "")).casefold() for u in allowances.get("users") or ()}
    teams = [t for t in allowances.get("teams") or () if t.get("slug")]
    apps = [a for a in allowances.get("apps") or () if a.get("slug")]
    if not (users or teams or apps):
        return ""
    me = _login(client)
    if me is None:  # an App's installation token: GitHub does not name it to itself
        names = [a["slug"] for a in apps] + [t["slug"] for t in teams] + sorted(users)
        return (
            f"the daemon acts as a GitHub App and {', '.join(names)} may bypass required pull "
            "requests (it cannot tell whether that includes the App)"
        )
    if me.casefold() in users:
        return f"the daemon's identity {me} may bypass required pull requests"
    for team in teams:
        members = _team_members(client, str(team.get("slug")))
        if members is None:
            return (
                f"team {team['slug']} may bypass required pull requests and its members "
                "cannot be read (give the token 'Members: read' on the organization)"
            )
        if me.casefold() in members:
            return f"the daemon's identity {me} is in team {team['slug']}, which may bypass"
    return ""


def _login(client: Client) -> str | None:
    """The token's own login (``GET /user``); None for an App's installation token."""
    try:
        return str(client.get("/user", {})["login"])
    except GithubException as refused:
        if refused.status in (401, 403):
            return None
        raise


def _team_members(client: Client, slug: str) -> set[str] | None:
    org = client.full_name.split("/", 1)[0]
    try:
        people = client.list(f"/orgs/{quote(org)}/teams/{quote(slug)}/members", {})
    except GithubException as refused:
        if refused.status in (403, 404):
            return None
        raise
    return {str(p["login"]).casefold() for p in people}


def signature_requirement(client: Client, base_branch: str) -> tuple[bool | None, str]:
    """Whether GitHub requires signed (verified) commits on ``base_branch``: (True, where),
    (False, why not), or (None, what could not be read) (for `reconciler doctor`).

    An active ruleset's ``required_signatures`` rule shows in ``GET /rules/branches/{branch}``
    to anyone who can read the repository; classic protection's "Require signed commits"
    only to an administrator (``GET .../protection/required_signatures``; 404 otherwise).
    """
    branch = quote(base_branch, safe="")
    with client.guard(f"read the signature rules of {base_branch}"):
        try:
            rules: list[dict[str, Any]] = client.list(f"{client.api}/rules/branches/{branch}", {})
        except GithubException as refused:
            if refused.status != 404:
                raise
            rules = []
        if any(rule.get("type") == "required_signatures" for rule in rules):
            return True, f"a ruleset requires signed commits on {base_branch}"
        try:
            found = client.get(f"{client.api}/branches/{branch}/protection/required_signatures", {})
        except GithubException as refused:
            if refused.status not in (403, 404):
                raise
            if reason(refused) in ("Branch not protected", "Branch not found"):
                return (
                    False,
                    f"no ruleset or branch protection requires signed commits on {base_branch}",
                )
            return None, (
                f"cannot read the branch protection of {base_branch} (GitHub answered "
                f"{refused.status}); no ruleset requires signed commits on it"
            )
        if found.get("enabled"):
            return True, f"the branch protection of {base_branch} requires signed commits"
        return False, f"no ruleset or branch protection requires signed commits on {base_branch}"
