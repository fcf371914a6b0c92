"""The decision for one app on one edge: promote the source's candidate into the target, or
say what blocks it."""

from __future__ import annotations

from reconciler import codeowners, gates, holds, promotions
from reconciler.actions import (
    AddLabels,
    Close,
    CommitDirect,
    PinEdit,
    RecordRollback,
    RequestReviews,
    gate_blocked,
)
from reconciler.gates import GateResult
from reconciler.model import short as short_digest
from reconciler.overlays.imageref import ImagePin
from reconciler.planning import candidates, registry, requests, reviews
from reconciler.planning.draft import Draft
from reconciler.policy.model import App, Environment
from reconciler.snapshot import OverlayState, RequestState


def edge(draft: Draft, app: App, source: Environment, target: Environment) -> None:
    """Plan ``app`` on the edge ``source`` -> ``target``."""
    key = (app.name, target.name)
    held = draft.snap.requests.get(key)
    request = held.request if held else None
    if requests.waits(draft, app.name, target.name, held):
        return
    src = draft.snap.overlays.get((app.name, source.name))
    tgt = draft.snap.overlays.get(key)
    if src is None or tgt is None:
        missing = source.name if src is None else target.name
        draft.block(
            app.name, target.name, "overlay-missing", f"no overlay for {app.name} in {missing}"
        )
        return
    for env, state in ((source.name, src), (target.name, tgt)):
        if state.error:
            draft.block(app.name, target.name, "overlay-invalid", f"{env}: {state.error}")
            return
    marker = promotions.parse_marker(request.body) if held and request else None
    if (
        held is not None
        and marker is not None
        and marker.rollback
        and (marker.app, marker.env) == (app.name, target.name)
    ):
        _rolling_back(draft, app, source, target, tgt, held, marker)
        return
    candidate = candidates.candidate(draft, app, source, target, src)
    if candidate is None:
        return
    current = tgt.pin.digest if tgt.pin else None
    if candidate.digest == current:
        if request is not None:
            draft.actions.append(
                Close(
                    app.name,
                    target.name,
                    request.number,
                    f"{target.name} already pins {short_digest(candidate.digest)}; "
                    "this request is no longer needed.",
                )
            )
        return
    stop = holds.holds(draft.policy, app.name, target.name, request.labels if request else ())
    rollback = holds.rollback_hold(tgt.history, candidate.digest, target.name)
    for hold in (*stop, *([rollback] if rollback else [])):
        draft.block(app.name, target.name, "hold", hold.reason, since=hold.since)
    manual = holds.manual_rollback(tgt.history, candidate.digest) if rollback else None
    if manual is not None:
        draft.actions.append(
            RecordRollback(
                app=app.name,
                env=target.name,
                digest=manual.digest,
                commit=manual.commit,
                at=manual.committed_at,
            )
        )
    if stop or rollback:
        return
    results = [candidates.gate(draft, name, candidate) for name in target.gates]
    draft.results += [(app.name, target.name, r) for r in results]
    failing = [r for r in results if not r.passed]
    for result in failing:
        draft.block(
            app.name,
            target.name,
            gate_blocked(result.code),
            f"gate {result.gate}: {result.reason}",
            since=result.since,
            until=result.until,
        )
    # Asked whatever the gates say: an unenforced or unreadable owner rule is worth telling.
    owners = reviews.owners(draft, app, target, tgt)
    if owners is None or any(r.code != "not-sampled" for r in failing):
        return
    decided = len(draft.actions)
    marker = promotions.Marker(
        app.name, target.name, source.name, candidate.digest, src.commit or ""
    )
    pin = _pin(src, candidate.digest, keep_tag=promotions.keeps_tag(draft.policy, app, target))
    advance(draft, app, source, target, tgt, marker, pin, results, owners, held)
    if failing:
        # Gates this view did not sample are unknown, not failed: what else waits is still
        # worth telling (a code owner, a merge delay), but nothing is done on them.
        del draft.actions[decided:]


def _rolling_back(  # noqa: PLR0917 the edge's facts, read once in edge()
    draft: Draft,
    app: App,
    source: Environment,
    target: Environment,
    tgt: OverlayState,
    held: RequestState,
    marker: promotions.Marker,
) -> None:
    """An open rollback request (`reconciler rollback`): kept, rebuilt, reviewed and merged
    as a promotion is, without the source's gates; never replaced by a forward promotion."""
    request = held.request
    current = tgt.pin.digest if tgt.pin else None
    if marker.digest == current:
        draft.actions.append(
            Close(
                app.name,
                target.name,
                request.number,
                f"{target.name} already pins {short_digest(marker.digest)}; this rollback is "
                "no longer needed.",
            )
        )
        return
    if tgt.pin is None:
        draft.block(
            app.name, target.name, "overlay-invalid", f"{tgt.path} pins no image to roll back"
        )
        return
    stop = holds.holds(draft.policy, app.name, target.name, request.labels)
    for hold in stop:
        draft.block(app.name, target.name, "hold", hold.reason, since=hold.since)
    owners = reviews.owners(draft, app, target, tgt) if not stop else None
    if owners is None:
        return
    keep_tag = promotions.keeps_tag(draft.policy, app, target)
    pin = promotions.rollback_pin(tgt.pin, marker.digest, keep_tag=keep_tag, tag=marker.tag)
    advance(draft, app, source, target, tgt, marker, pin, [], owners, held)


def advance(  # noqa: PLR0913, PLR0917 the edge's facts, read once in edge()
    draft: Draft,
    app: App,
    source: Environment,
    target: Environment,
    tgt: OverlayState,
    marker: promotions.Marker,
    pin: ImagePin,
    results: list[GateResult],
    owners: tuple[str, ...],
    held: RequestState | None,
) -> None:
    """Past the gates: commit, open or update the request, ask reviewers, merge."""
    request = held.request if held else None
    if not registry.proven(draft, app, target, pin):
        return
    message, trailers = promotions.commit_message(marker, gates.evidence_trailer(results))
    trailer_pairs = tuple((t.key, t.value) for t in trailers)
    if target.mode == "commit":
        draft.actions.append(
            CommitDirect(
                app=app,
                env=target.name,
                source=source.name,
                format=target.format,
                path=tgt.path,
                pin=pin,
                marker=marker,
                message=message,
                trailers=trailer_pairs,
                files=tgt.files if tgt.part_files else (),
            )
        )
        return
    if (
        request is None
        or held is None
        or requests.stale(request, marker)
        or held.outdated
        or held.head_problem
    ):
        requests.propose(
            draft,
            app,
            source=source,
            target=target,
            tgt=tgt,
            pin=pin,
            marker=marker,
            message=message,
            trailers=trailer_pairs,
            results=results,
            owners=owners,
            held=held,
        )
        return
    asked = {r.casefold() for r in request.requested_reviewers}
    # GitHub drops a reviewer from the requested list once they review: asking again would
    # re-request a review already given. Handles compare without regard to case.
    unasked = tuple(
        o
        for o in owners
        if o.casefold() not in asked
        and not any(
            codeowners.is_owner(r.reviewer, (o,), draft.snap.teams) for r in request.reviews
        )
    )
    if unasked:
        # Asked right after opening; a crash in between must not leave owners unasked.
        draft.actions.append(RequestReviews(app.name, target.name, request.number, unasked))
    unlabelled = tuple(x for x in draft.policy.settings.labels if x not in request.labels)
    if unlabelled:
        # Labelled right after opening (on GitHub, a second write): a crash in between, or
        # a label added to the policy since, must not leave the request without them.
        draft.actions.append(AddLabels(app.name, target.name, request.number, unlabelled))
    reviews.merge(
        draft,
        app,
        target=target,
        tgt=tgt,
        request=request,
        owners=owners,
        marker=marker,
        edit=PinEdit(app=app, format=target.format, path=tgt.path, pin=pin),
    )


def _pin(src: OverlayState, digest: str, *, keep_tag: bool | frozenset[str]) -> ImagePin:
    """What the target will pin: the source's repository and digest (and tag, if kept)."""
    assert src.pin is not None
    return promotions.target_pin(src.pin, digest, keep_tag=keep_tag)
