"""The promotion request's lifecycle: when an open request stops the plan, opening or
updating the one rolling request per (app, target env), and closing those no longer wanted.
"""

from __future__ import annotations

from reconciler import changes, gates, holds, promotions
from reconciler.actions import Close, Propose
from reconciler.forge.port import Request
from reconciler.gates import GateResult
from reconciler.model import short as short_digest
from reconciler.overlays.imageref import ImagePin
from reconciler.planning.draft import Draft
from reconciler.policy.model import App, Environment
from reconciler.snapshot import OverlayState, RequestState


def waits(draft: Draft, app: str, env: str, held: RequestState | None) -> bool:
    """Block what the open request's record or head does not allow; True when nothing
    else may be planned for the pair this cycle."""
    if held is not None and held.head_problem:
        draft.block(
            app,
            env,
            "unverified-head",
            f"request #{held.request.number} is not merged: {held.head_problem}; the "
            "daemon rebuilds it as its own edit when the promotion can proceed",
        )
    damaged = draft.snap.damaged.get((app, env))
    if damaged is not None:
        draft.block(app, env, "request-damaged", damaged)
        return True
    if held is not None and held.unfetched:
        draft.block(
            app,
            env,
            "unverified-head",
            f"request #{held.request.number}'s head {held.request.head_commit[:12]} "
            "was pushed after this cycle fetched; it is checked next cycle",
        )
        return True
    return False


def stale(request: Request, marker: promotions.Marker) -> bool:
    """Whether the open request proposes another digest than ``marker`` (or none)."""
    found = promotions.parse_marker(request.body)
    return found is None or found.digest != marker.digest or found.kind != marker.kind


def propose(  # noqa: PLR0913 the decision's facts, all but draft and app keyword-only
    draft: Draft,
    app: App,
    *,
    source: Environment,
    target: Environment,
    tgt: OverlayState,
    pin: ImagePin,
    marker: promotions.Marker,
    message: str,
    trailers: tuple[tuple[str, str], ...],
    results: list[GateResult],
    owners: tuple[str, ...],
    held: RequestState | None,
) -> None:
    """Open the request for ``marker``, or rebuild the open one ``held`` on it."""
    notes = []
    if any(r.weak_binding for r in results):
        notes.append("weak binding: no live source for the source environment")
    labels = tuple(draft.policy.settings.labels)
    if held is None and not marker.rollback and holds.release_label(draft.policy, tgt.history):
        # rollback_release = "manual": the first request after a rollback waits for a person.
        hold = draft.policy.settings.hold_label
        labels += (hold,)
        notes.append(
            f"{target.name} was rolled back; this request waits until the {hold!r} label is "
            f"removed (`reconciler review release --app {app.name} --env {target.name}` on "
            "the local forge)"
        )
    before = tgt.pin.digest if tgt.pin else None
    change = draft.snap.changes.get((app.name, target.name))
    body = promotions.body(
        marker,
        tgt.files,
        pin.reference(),
        gates.evidence_table(results),
        tuple(notes),
        changes=changes.section(change, before or None, marker.digest),
    )
    comment = None
    number = expected = None
    if held is not None:
        request = held.request
        number, expected = request.number, request.head_commit
        old = promotions.parse_marker(request.body)
        if held.head_problem:
            comment = (
                f"Rebuilt: {held.head_problem}. Only the daemon's own edit is merged; "
                "approvals on the old head no longer count."
            )
        elif marker.rollback and (old is None or not old.rollback):
            comment = (
                f"Replaced by a rollback to {short_digest(marker.digest)} asked by "
                f"{marker.by or 'unknown'}: {marker.reason or 'no reason given'}. Approvals "
                "given on the old head no longer count."
            )
        elif old is not None and old.digest != marker.digest:
            comment = (
                f"Updated to a newer candidate: {short_digest(marker.digest)} replaces "
                f"{short_digest(old.digest)}. Approvals given on the old head no longer "
                "count."
            )
        else:
            comment = (
                "Rebuilt on the current base branch; approvals on the old head no longer count."
            )
    draft.actions.append(
        Propose(
            app=app,
            env=target.name,
            source=source.name,
            format=target.format,
            path=tgt.path,
            pin=pin,
            marker=marker,
            title=promotions.title(marker),
            body=body,
            message=message,
            trailers=trailers,
            labels=labels,
            reviewers=owners,
            number=number,
            expected_head=expected,
            comment=comment,
            files=tgt.files if tgt.part_files else (),
        )
    )


def close_unwanted(draft: Draft, key: tuple[str, str], held: RequestState) -> None:
    """Close the open request at ``key`` when the policy no longer promotes that
    (app, env): ``draft.planned`` holds the edges it does."""
    if key not in draft.planned:
        app, env = key
        draft.actions.append(
            Close(
                app,
                env,
                held.request.number,
                f"{app} is no longer promoted into {env} by promotions.toml; closing.",
            )
        )
