"""A pull request's JSON as GitHub answers it, read as the Forge port's Request and Reviews."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from reconciler.forge.port import Request, RequestStatus, Review, ReviewState
from reconciler.promotions import BRANCH_PREFIX

_REVIEW_STATES: dict[str, ReviewState] = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "COMMENTED": "commented",
}


def to_request(
    pull: dict[str, Any],
    reviews: list[dict[str, Any]],
    owner: str,
    clock: Callable[[], datetime],
) -> Request:
    """The port's Request for a pull and its reviews; ``owner`` names its teams."""
    number = int(pull["number"])
    merged_at = _time(pull.get("merged_at"))
    state: RequestStatus = "merged" if merged_at else "closed"
    if pull["state"] == "open":
        state = "open"
    requested = [f"@{u['login']}" for u in pull.get("requested_reviewers") or ()]
    requested += [f"@{owner}/{t['slug']}" for t in pull.get("requested_teams") or ()]
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
        created_at=_time(pull["created_at"]) or clock(),
        updated_at=_time(pull["updated_at"]) or clock(),
        reviews=tuple(
            Review(
                reviewer=f"@{r['user']['login']}",
                state=_REVIEW_STATES[r["state"]],
                commit=str(r["commit_id"]),
                at=_time(r.get("submitted_at")) or clock(),
                comment=str(r.get("body") or ""),
            )
            for r in reviews
            if r.get("state") in _REVIEW_STATES and r.get("user")
        ),
        requested_reviewers=tuple(sorted(requested, key=str.casefold)),
        merged_commit=str(pull["merge_commit_sha"]) if merged_at else None,
        merged_at=merged_at,
    )


def is_promotion(pull: dict[str, Any], full_name: str) -> bool:
    """Whether the pull's head is a ``promote/`` branch of the repository ``full_name``."""
    head = pull.get("head") or {}
    repo = head.get("repo") or {}
    from_here = str(repo.get("full_name", "")).casefold() == full_name.casefold()
    return from_here and str(head.get("ref", "")).startswith(BRANCH_PREFIX)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
