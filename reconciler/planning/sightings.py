"""Live sightings: when a merged promotion's digest was first seen running, for the audit."""

from __future__ import annotations

from reconciler import promotions
from reconciler.actions import RecordLive
from reconciler.forge.port import Request
from reconciler.planning.draft import Draft


def record_live(draft: Draft, key: tuple[str, str], request: Request) -> None:
    """Record, in a merged request still waiting for it, when its digest went live."""
    marker = promotions.parse_marker(request.body)
    live = draft.snap.live.get(key)
    overlay = draft.snap.overlays.get(key)
    if marker is None:
        return
    inferred = False
    if live is not None and live.digest == marker.digest and not live.rolling:
        at = live.since or draft.now
    elif key[1] not in draft.policy.live and overlay and overlay.pin:
        # Without a live source the merge itself is the best durable fact.
        if overlay.pin.digest != marker.digest or request.merged_at is None:
            return
        at, inferred = request.merged_at, True
    else:
        return
    draft.actions.append(RecordLive(key[0], key[1], request.number, at, inferred=inferred))
