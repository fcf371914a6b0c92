"""`reconciler review approve|request-changes|comment|hold|release|list|show|set-status` on
the local forge."""

from __future__ import annotations

import argparse
import json
import re

from reconciler import changes, promotions
from reconciler.errors import PermanentError, PolicyError
from reconciler.forge.local import LocalForge
from reconciler.forge.port import Request, ReviewState
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.policy import POLICY_FILE, Policy, load_policy
from reconciler.settings import from_args, has_repo
from reconciler.verbs import EXIT_OK, EXIT_USAGE, check_name, fail
from reconciler.wiring import open_repo

_STATES: dict[str, ReviewState] = {
    "approve": "approved",
    "request-changes": "changes_requested",
    "comment": "commented",
}
DEFAULT_HOLD_LABEL = "promotion-hold"
_FULL_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def review(args: argparse.Namespace) -> int:
    """Record a review bound to the request's current head, or list open requests."""
    if not has_repo(args):
        return fail("review", "--repo is required (or RECONCILER_REPO)", EXIT_USAGE)
    settings = from_args(args)
    if settings.forge != "local":
        return fail("review", "reviews on GitHub are given on the pull request itself", EXIT_USAGE)
    repo = open_repo(settings)
    if args.action == "list":
        return _list(args, LocalForge(repo, settings.base_branch))
    if args.action == "show":
        forge = LocalForge(repo, settings.base_branch)
        return _show(args, forge.request(_number(forge, args, _policy(repo, forge))))
    if args.action == "set-status":
        return _set_status(args, repo, settings.base_branch)
    if not args.reviewer:
        return fail("review", "--as @handle is required (or RECONCILER_REVIEWER)", EXIT_USAGE)
    name = args.reviewer.lstrip("@")
    forge = LocalForge(
        repo, settings.base_branch, handle=args.reviewer, name=name, email=f"{name}@localhost"
    )
    policy = _policy(repo, forge)
    number = _number(forge, args, policy)
    if args.action in ("hold", "release"):
        hold = policy.settings.hold_label if policy is not None else DEFAULT_HOLD_LABEL
        present = args.action == "hold"
        if args.dry_run:
            request = _open(forge, number)
        else:
            request = forge.label(number, hold, present=present)
        state = "held" if present else "released"
        said = f"#{number} ({request.title}) {state}: label {hold!r} by {args.reviewer}"
        if args.dry_run:
            said = f"{args.action} #{number} ({request.title}): label {hold!r} by {args.reviewer}"
        _say(args, request, said)
        return EXIT_OK
    if args.dry_run:
        request = _open(forge, number)
    else:
        request = forge.review(number, args.reviewer, _STATES[args.action], args.comment or "")
    head = request.head_commit[:12]
    said = f"{args.action} #{number} ({request.title}) on head {head} as {args.reviewer}"
    _say(args, request, said)
    return EXIT_OK


def _set_status(args: argparse.Namespace, repo: Pygit2ConfigRepo, base_branch: str) -> int:
    """Set a commit status on the local forge, as CI sets one on GitHub."""
    if not (args.sha and args.name and args.state):
        return fail("review", "set-status needs --sha, --name and --state", EXIT_USAGE)
    who = args.reviewer or "@ci"
    name = who.lstrip("@")
    forge = LocalForge(repo, base_branch, handle=who, name=name, email=f"{name}@localhost")
    sha = args.sha
    if not _FULL_ID.match(sha) and args.source:
        raise PolicyError(f"--sha {sha!r}: a source repository's commit is given by its full id")
    if not _FULL_ID.match(sha):
        repo.fetch()
        tip = repo.tip(sha)
        if tip is None:
            raise PermanentError(f"--sha {sha!r} is neither a full commit id nor a branch")
        sha = tip
    if args.dry_run:
        print(f"would set {args.name} {args.state} on {sha[:12]} as {who} (dry run)")
        return EXIT_OK
    check = forge.set_status(
        sha, args.name, args.state, url=args.url, description="", repository=args.source
    )
    if args.output == "json":
        shown = {"sha": sha, "name": check.name, "state": check.conclusion, "url": check.url}
        source = {"source": args.source} if args.source else {}
        print(json.dumps({**shown, **source, "as": who}, indent=2))
    else:
        link = f" ({check.url})" if check.url else ""
        where = f" of {args.source}" if args.source else ""
        print(f"{check.name} {check.conclusion} on {sha[:12]}{where} as {who}{link}")
    return EXIT_OK


def _list(args: argparse.Namespace, forge: LocalForge) -> int:
    """Every open request; in text, what each changes under it."""
    requests = forge.requests()
    if args.output == "json":
        print(json.dumps([_json(request) for request in requests], indent=2))
        return EXIT_OK
    for request in requests:
        print(_line(request))
        for line in changes.section_of(request.body).splitlines()[1:]:
            if line:
                print(f"    {line}")
    return EXIT_OK


def _show(args: argparse.Namespace, request: Request) -> int:
    """One request and its whole description, as the forge holds it."""
    if args.output == "json":
        print(json.dumps({**_json(request), "body": request.body}, indent=2))
        return EXIT_OK
    print(_line(request))
    print()
    marker = promotions.parse_marker(request.body)
    shown = request.body
    if marker is not None:  # for machines: the request's JSON has it
        shown = shown.replace(marker.render(), "")
    print(shown.strip())
    return EXIT_OK


def _say(args: argparse.Namespace, request: Request, line: str) -> None:
    """What the action did (or, with --dry-run, would do), as text or one JSON object."""
    if args.output == "json":
        done = {"action": args.action, "as": args.reviewer, "dry_run": args.dry_run}
        print(json.dumps({**done, "request": _json(request)}, indent=2))
    elif args.dry_run:
        print(f"would {line} (dry run: nothing written)")
    else:
        print(line)


def _open(forge: LocalForge, number: int) -> Request:
    """Request ``number`` as the action would find it; PolicyError where it would refuse."""
    request = forge.request(number)
    if request.state != "open":
        raise PolicyError(f"request #{number} is {request.state}; only open ones take reviews")
    if not request.head_commit:
        raise PolicyError(f"request #{number}'s head branch {request.head_branch} no longer exists")
    return request


def _policy(repo: Pygit2ConfigRepo, forge: LocalForge) -> Policy | None:
    """The policy on the base branch, when it loads."""
    tip = repo.tip(forge.base_branch)
    data = repo.read(tip, POLICY_FILE) if tip else None
    result = load_policy(data) if data is not None else None
    return result.policy if result is not None else None


def _number(forge: LocalForge, args: argparse.Namespace, policy: Policy | None) -> int:
    if args.request is not None:
        return int(args.request)
    if not (args.app and args.env):
        raise PolicyError("name the request: --request N, or --app APP --env ENV")
    if policy is not None:
        check_name("app", args.app, policy.apps, POLICY_FILE)
        check_name("environment", args.env, policy.environments, POLICY_FILE)
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


def _json(request: Request) -> dict[str, object]:
    return {
        "number": request.number,
        "title": request.title,
        "head_branch": request.head_branch,
        "head_commit": request.head_commit,
        "state": request.state,
        "labels": list(request.labels),
        "requested_reviewers": list(request.requested_reviewers),
        "approved_by": sorted(request.approvals()),
        "changes": changes.section_of(request.body),
    }
