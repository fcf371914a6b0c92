"""What GitHub itself enforces on a branch: code-owner review, proven from an active ruleset
or the classic branch protection, and GitHub's complaints about the CODEOWNERS file."""

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


def codeowner_enforcement(client: Client, base_branch: str) -> Enforcement:
    """Whether GitHub itself refuses a merge into ``base_branch`` without a code owner."""
    branch = quote(base_branch, safe="")
    with client.guard(f"read the review rules of {base_branch}"):
        rules = client.list(f"{client.api}/rules/branches/{branch}", {})
        for rule in rules:
            parameters = rule.get("parameters") or {}
            if rule.get("type") == "pull_request" and parameters.get("require_code_owner_review"):
                return Enforcement(
                    enforced=True,
                    reason=f"ruleset {rule.get('ruleset_id')} requires review from code owners to "
                    f"merge into {base_branch} (check who may bypass it)",
                )
        try:
            protection = client.get(f"{client.api}/branches/{branch}/protection", {})
        except GithubException as refused:
            if refused.status not in (403, 404):
                raise
            if reason(refused) == "Branch not protected":
                return Enforcement(
                    enforced=False,
                    reason=f"{base_branch} is not protected and no active ruleset requires review "
                    f"from code owners: turn on 'Require review from Code Owners' in its "
                    "branch protection, or add a ruleset with that pull_request rule",
                )
            return Enforcement(
                enforced=False,
                reason=f"cannot read the branch protection of {base_branch} (GitHub answered "
                f"{refused.status}) and no active ruleset requires review from code "
                f"owners: {_HIDDEN_FIX}",
            )
        return _classic(base_branch, protection)


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


def _classic(branch: str, protection: dict[str, Any]) -> Enforcement:
    reviews = protection.get("required_pull_request_reviews") or {}
    if not reviews.get("require_code_owner_reviews"):
        return Enforcement(
            enforced=False,
            reason=f"the branch protection of {branch} does not require review from code owners: "
            "turn on 'Require review from Code Owners', or add a ruleset with that "
            "pull_request rule",
        )
    if (protection.get("enforce_admins") or {}).get("enabled"):
        return Enforcement(
            enforced=True,
            reason=f"the branch protection of {branch} requires review from code owners",
        )
    return Enforcement(
        enforced=True,
        reason=f"the branch protection of {branch} requires review from code owners, but "
        "administrators can bypass it: turn on 'Do not allow bypassing the above settings'",
    )
