"""Code-owner reviews and merges: who must approve a target's request, and whether the open
request is merged now, left to a person, or still waits."""

from __future__ import annotations

from datetime import datetime

from reconciler import codeowners, gates, ownership, promotions
from reconciler.actions import Merge, PinEdit
from reconciler.forge.port import Request
from reconciler.planning.draft import Draft
from reconciler.policy.model import App, Environment
from reconciler.snapshot import OverlayState


def owners(
    draft: Draft, app: App, target: Environment, tgt: OverlayState
) -> tuple[str, ...] | None:
    """The overlay's code owners; () when none are required; None when blocked."""
    if not target.require_codeowners:
        return ()
    enforcement = draft.snap.enforcement
    if enforcement is None or not enforcement.enforced:
        reason = (
            enforcement.reason if enforcement else "the forge's protection settings are unknown"
        )
        draft.block(app.name, target.name, "codeowners-not-enforced", reason)
        return None
    found: dict[str, None] = {}
    for path in tgt.files:  # one file, or each of a unit's part files
        each = _file_owners(draft, app, target, path)
        if each is None:
            return None
        found.update(dict.fromkeys(each))
    return tuple(found)


def _file_owners(draft: Draft, app: App, target: Environment, path: str) -> tuple[str, ...] | None:
    """The code owners of one file the promotion edits; None when blocked."""
    found = draft.snap.codeowners.owners_of(path)
    if not found:
        where = draft.snap.codeowners.source or "no CODEOWNERS file"
        draft.block(
            app.name,
            target.name,
            "codeowners-gap",
            f"{path} has no code owner ({where}); add a line such as "
            f"/{path.rsplit('/', 1)[0]}/ @your-team to .github/CODEOWNERS",
        )
        return None
    rule = draft.snap.codeowners.rule_for(path)
    problem = draft.snap.codeowners_errors.get(rule.line) if rule else None
    if rule is not None and problem:
        draft.block(
            app.name,
            target.name,
            "codeowners-error",
            f"{draft.snap.codeowners.source}:{rule.line}, the line that owns {path}, "
            f"has an error the forge reports: {problem}; fix that line",
        )
        return None
    return found


def merge(  # noqa: PLR0913 the decision's facts, all but draft and app keyword-only
    draft: Draft,
    app: App,
    *,
    target: Environment,
    tgt: OverlayState,
    request: Request,
    owners: tuple[str, ...],
    marker: promotions.Marker,
    edit: PinEdit,
) -> None:
    """Merge the open ``request`` when its approvals and the target's settings allow."""
    approvals = request.approvals()
    approvers: tuple[str, ...] = ()
    if target.require_codeowners:
        qualifying = {
            who: at
            for who, at in approvals.items()
            if codeowners.is_owner(who, owners, draft.snap.teams)
        }
        # Every file the promotion edits needs its own owner's approval (a unit's part
        # files may have other owners); approved once the last of them is.
        covered: dict[str, datetime] = {}
        for path in tgt.files if qualifying else ():
            own = draft.snap.codeowners.owners_of(path)
            times = [
                at
                for who, at in qualifying.items()
                if codeowners.is_owner(who, own, draft.snap.teams)
            ]
            if times:
                covered[path] = min(times)
        waiting = [path for path in tgt.files if path not in covered]
        if waiting:
            _await_owner(draft, app, target, tgt, request=request, waiting=waiting)
            return
        approvers = tuple(sorted(qualifying))
        delay = gates.merge_delay(target.merge_delay, max(covered.values()), draft.now)
        if not delay.passed:
            draft.block(
                app.name,
                target.name,
                "merge-delay",
                delay.reason,
                since=delay.since,
                until=delay.until,
            )
            return
        if not target.merge_when_approved:
            draft.block(
                app.name,
                target.name,
                "manual-merge",
                f"request #{request.number} is approved by {', '.join(approvers)}; "
                f"merge_when_approved is off for {target.name}, so a person merges it",
            )
            return
    elif not target.auto_merge:
        draft.block(
            app.name,
            target.name,
            "manual-merge",
            f"request #{request.number} is ready; auto_merge is off for {target.name}, "
            "so a person merges it",
        )
        return
    elif _owners_stand_in_the_way(draft, app, target, tgt, request):
        return
    draft.actions.append(
        Merge(
            app=app.name,
            env=target.name,
            number=request.number,
            expected_head=request.head_commit,
            # The daemon's own title: a person may have edited the request's.
            message=f"{promotions.title(marker)} (#{request.number})",
            approvers=approvers,
            owners_required=target.require_codeowners,
            hold_label=draft.policy.settings.hold_label,
            edit=edit,
            rollback=marker.rollback,
        )
    )


def _await_owner(
    draft: Draft,
    app: App,
    target: Environment,
    tgt: OverlayState,
    *,
    request: Request,
    waiting: list[str],
) -> None:
    """Block on a code owner's approval of each file in ``waiting``, saying whose
    approvals do not count and why."""
    each = [(path, draft.snap.codeowners.owners_of(path)) for path in waiting]
    owners = tuple(dict.fromkeys(o for _, own in each for o in own))
    unreadable = [
        draft.snap.unreadable_teams[o] for o in owners if o in draft.snap.unreadable_teams
    ]
    others = sorted(set(request.approvals()))
    whom = "; and of ".join(f"{path}: {' '.join(own)}" for path, own in each)
    waits = f"request #{request.number} waits for approval from a code owner of {whom}"
    if unreadable:
        # Never "not a code owner": the forge did not say who is in the team.
        said = f" (approvals from {', '.join(others)} may count)" if others else ""
        draft.block(
            app.name,
            target.name,
            "codeowners-team-unreadable",
            f"{waits}{said}; {'; '.join(unreadable)}",
            since=request.updated_at,
        )
        return
    extra = (
        f" (approvals from {', '.join(others)} do not count: not code owners"
        f"{' of that file' if len(tgt.files) > 1 else ''})"
        if others
        else ""
    )
    draft.block(
        app.name,
        target.name,
        "awaiting-review",
        f"{waits}{extra}",
        since=request.updated_at,
    )


def _owners_stand_in_the_way(
    draft: Draft, app: App, target: Environment, tgt: OverlayState, request: Request
) -> bool:
    """An ``auto_merge`` target whose overlay CODEOWNERS owns, on a base branch that requires
    a code owner's review: the forge refuses the daemon's merge until an owner approves, so
    the plan waits for one (and says how to let the daemon merge alone) instead of failing."""
    enforcement = draft.snap.enforcement
    if enforcement is None or not enforcement.enforced:
        return False
    for path in tgt.files:  # one file, or each of a unit's part files
        rule = draft.snap.codeowners.rule_for(path)
        if rule is None or not rule.owners:
            continue
        if any(codeowners.is_owner(w, rule.owners, draft.snap.teams) for w in request.approvals()):
            continue
        break
    else:
        return False
    owned = ownership.OwnedAutoMerge(
        target.name,
        app.name,
        path,
        rule.owners,
        draft.snap.codeowners.source or "CODEOWNERS",
        rule.line,
    )
    draft.block(
        app.name,
        target.name,
        "awaiting-review",
        f"request #{request.number} needs a code owner's approval before the forge lets it "
        f"merge: {owned.owned()} and {enforcement.reason}; {owned.fix()}",
        since=request.updated_at,
    )
    return True
