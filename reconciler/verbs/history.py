"""`reconciler history`: every promotion and rollback, from the config repo alone."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from reconciler import audit, partfiles, promotions, units
from reconciler.desired import overlay_path
from reconciler.errors import ReconcilerError
from reconciler.forge.local import LocalForge
from reconciler.forge.records import RequestRecord
from reconciler.gates.results import stamp
from reconciler.gitrepo.port import CommitInfo
from reconciler.model import short as short_digest
from reconciler.observing import Observer
from reconciler.policy import POLICY_FILE, Policy
from reconciler.settings import from_args, has_repo
from reconciler.verbs import EXIT_OK, EXIT_USAGE, check_name, fail
from reconciler.wiring import build


def history(args: argparse.Namespace) -> int:
    """Print the audit trail: digest, from -> to, request, approvers, merged, live."""
    if not has_repo(args):
        return fail("history", "--repo is required (or RECONCILER_REPO)", EXIT_USAGE)
    wired = build(from_args(args))
    observer = wired.runner.observer
    observation = observer.observe(fetch=False)
    policy = observation.policy
    if policy is not None:
        check_name("app", args.app, policy.apps, POLICY_FILE)
        check_name("environment", args.env, policy.environments, POLICY_FILE)
    commits = promotion_commits(observer, observation.snapshot.base_commit, policy)
    forge = wired.forge
    # Request records are the local forge's; on GitHub the merge commits' trailers (and the
    # Deployments API) carry the trail.
    records: tuple[RequestRecord, ...] = ()
    tips: dict[str, str] = {}
    if isinstance(forge, LocalForge):
        records = forge.records()
        # An open request's record names no head yet: its branch's tip tells which of its
        # reviews are on a superseded head.
        tips = {r.head_branch: r.head_commit for r in forge.requests() if r.head_commit}
    entries = [
        e
        for e in audit.trail(records, commits, tips)
        if args.env in (None, e.env) and args.app in (None, e.app)
    ]
    if args.output == "json":
        print(json.dumps([_json(e) for e in entries], indent=2))
        return EXIT_OK
    if not entries:
        print("no promotions yet")
    for entry in entries:
        print(_text(entry))
    return EXIT_OK


def promotion_commits(observer: Observer, tip: str, policy: Policy | None) -> list[CommitInfo]:
    """Commits on the base branch that changed an overlay and carry promotion trailers."""
    if policy is None:
        return []
    view = observer.repo.tree(tip)
    files: set[str] = set()
    for env in policy.environments.values():
        for app in policy.apps_in(env.name):
            try:
                path = overlay_path(env, app, view)
                files.update(f for f, _ in partfiles.groups(env.format, path, app, view.names))
            except ReconcilerError:  # an unreadable overlay has no history to show
                continue
    found: dict[str, CommitInfo] = {}
    for commits in observer.repo.file_histories(tip, files, limit=100).files.values():
        for info in commits:
            if info.trailer(promotions.PROMOTED_FROM) or info.trailer(promotions.ROLLBACK_OF):
                found[info.id] = info
    return list(found.values())


def _when(moment: datetime | None) -> str:
    return stamp(moment) if moment else "-"


def _text(entry: audit.Entry) -> str:
    approved = [r for r in entry.reviews if r.state == "approved"]
    approvals = ", ".join(_review(r) for r in approved) or "-"
    if entry.counted:
        approvals += f" (counted: {', '.join(entry.counted)})"
    others = ", ".join(_review(r) for r in entry.reviews if r.state != "approved")
    request = f"#{entry.request}" if entry.request else "direct commit"
    live = _when(entry.live_at)
    if entry.live_at and entry.live_inferred:
        live += f" (inferred from the merge: {entry.env} has no live source)"
    moved = f"{entry.source} -> {entry.env} {short_digest(entry.digest)}"
    if entry.rollback is not None:
        back = entry.rollback
        moved = (
            f"{entry.env} rolled back from {short_digest(back.replaces)} to "
            f"{short_digest(entry.digest)} by {back.by or 'unknown'} "
            f'("{back.reason or "no reason given"}")'
        )
    return (
        f"{entry.app}: {moved} "
        f"[{entry.state}] {request}; requested {_when(entry.requested_at)}; "
        f"approved by {approvals}; {f'other reviews: {others}; ' if others else ''}"
        f"merged {_when(entry.merged_at)}"
        f"{' as ' + entry.commit[:12] if entry.commit else ''}; live {live}"
    )


def _review(review: audit.Reviewed) -> str:
    """``@who at TIME``, what they did unless it is the approval, its head when superseded
    and its comment, on one line."""
    verb = {"changes_requested": " requested changes", "commented": " commented"}
    said = f"{review.reviewer}{verb.get(review.state, '')} at {_when(review.at)}"
    if review.superseded:
        said += f" (on superseded head {review.commit[:12]})"
    if review.comment.strip():
        said += f' "{_one_line(review.comment)}"'
    return said


def _one_line(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:") + "…"


def _json(entry: audit.Entry) -> dict[str, object]:
    back = entry.rollback
    return {
        "app": entry.app,
        "kind": entry.kind,
        "replaces": back.replaces if back else None,
        "reason": back.reason if back else None,
        "by": back.by if back else None,
        "from": entry.source,
        "to": entry.env,
        "digest": entry.digest,
        # An image unit's set, part by part (reconciler.units); absent for one image.
        **({"images": units.parts(entry.digest)} if units.is_unit(entry.digest) else {}),
        "state": entry.state,
        "request": entry.request,
        "requested_at": _when(entry.requested_at) if entry.requested_at else None,
        "approvals": [{"by": who, "at": _when(at)} for who, at in entry.approvals],
        "counted_approvals": list(entry.counted),
        "reviews": [
            {
                "by": r.reviewer,
                "state": r.state,
                "at": _when(r.at),
                "head": r.commit,
                "superseded": r.superseded,
                "comment": r.comment or None,
            }
            for r in entry.reviews
        ],
        "merged_at": _when(entry.merged_at) if entry.merged_at else None,
        "commit": entry.commit,
        "live_at": _when(entry.live_at) if entry.live_at else None,
        "live_inferred": entry.live_inferred,
    }
