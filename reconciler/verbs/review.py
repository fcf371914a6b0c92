"""`reconciler review approve|request-changes|comment|hold|release|list` on the local forge."""

from __future__ import annotations

import argparse

from reconciler import promotions
from reconciler.errors import PolicyError
from reconciler.forge.local import LocalForge
from reconciler.forge.port import Request, ReviewState
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.policy import POLICY_FILE, load_policy
from reconciler.settings import from_args, has_repo
from reconciler.verbs import EXIT_OK, EXIT_USAGE, fail
from reconciler.wiring import open_repo

_STATES: dict[str, ReviewState] = {
    "approve": "approved",
    "request-changes": "changes_requested",
    "comment": "commented",
}


def review(args: argparse.Namespace) -> int:
    """Record a review bound to the request's current head, or list open requests."""
    if not has_repo(args):
        return fail("review", "--repo is required (or RECONCILER_REPO)", EXIT_USAGE)
    settings = from_args(args)
    if settings.forge != "local":
        return fail("review", "reviews on GitHub are given on the pull request itself", EXIT_USAGE)
    repo = open_repo(settings)
    if args.action == "list":
        forge = LocalForge(repo, settings.base_branch)
        for request in forge.requests():
            print(_line(request))
        return EXIT_OK
    if not args.reviewer:
        return fail("review", "--as @handle is required (or RECONCILER_REVIEWER)", EXIT_USAGE)
    name = args.reviewer.lstrip("@")
    forge = LocalForge(
        repo, settings.base_branch, handle=args.reviewer, name=name, email=f"{name}@localhost"
    )
    number = _number(forge, args)
    if args.action in ("hold", "release"):
        hold = _hold_label(repo, forge)
        request = forge.label(number, hold, present=args.action == "hold")
        state = "held" if args.action == "hold" else "released"
        print(f"#{number} ({request.title}) {state}: label {hold!r} by {args.reviewer}")
        return EXIT_OK
    request = forge.review(number, args.reviewer, _STATES[args.action], args.comment or "")
    head = request.head_commit[:12]
    print(f"{args.action} #{number} ({request.title}) on head {head} as {args.reviewer}")
    return EXIT_OK


def _hold_label(repo: Pygit2ConfigRepo, forge: LocalForge) -> str:
    """The policy's hold label on the base branch (settings.hold_label)."""
    tip = repo.tip(forge.base_branch)
    data = repo.read(tip, POLICY_FILE) if tip else None
    result = load_policy(data) if data is not None else None
    if result is not None and result.policy is not None:
        return result.policy.settings.hold_label
    return "promotion-hold"


def _number(forge: LocalForge, args: argparse.Namespace) -> int:
    if args.request is not None:
        return int(args.request)
    if not (args.app and args.env):
        raise PolicyError("name the request: --request N, or --app APP --env ENV")
    head = promotions.branch(args.env, args.app)
    for request in forge.requests():
        if request.head_branch == head:
            return request.number
    raise PolicyError(f"no open promotion request for {args.app} into {args.env}")


def _line(request: Request) -> str:
    approvals = ", ".join(sorted(request.approvals())) or "none"
    asked = " ".join(request.requested_reviewers) or "-"
    return (
        f"#{request.number}\t{request.title}\thead {request.head_commit[:12]}\t"
        f"reviewers {asked}\tapproved by {approvals}"
    )
