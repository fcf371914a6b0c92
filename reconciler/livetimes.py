"""Live times that outlast a process: a source that tells no start time is given the one
the forge's records hold.

A live source without a start time (an HTTP version endpoint without ``since_field``, a
registry tag) tells "since" as the moment this process first saw the digest, so a restarted
daemon, `once` and `status` would each start soak over. The daemon records, in the merged
request, when it first saw the digest running (the local forge's record, or the GitHub
Deployment's ``success`` status); that record is the durable fact used here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from reconciler import gates
from reconciler.errors import ReconcilerError
from reconciler.forge.port import Forge
from reconciler.policy import Policy
from reconciler.snapshot import Key, LiveState, OverlayState

log = logging.getLogger("reconciler.observe")


class RecordedSightings:
    """Asks the forge once per (app, env, digest) and per process; keeps the answers for
    the digests running now only."""

    def __init__(self, forge: Forge) -> None:
        self._forge = forge
        self._records: dict[tuple[str, str, str], datetime | None] = {}

    def apply(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        live: dict[Key, LiveState],
        whole: Callable[[Key, OverlayState], OverlayState] = lambda _, state: state,
    ) -> dict[Key, LiveState]:
        """Source environments' live times, taken back to when the forge's records say the
        digest was first seen running, when the live source tells only this process's own
        sighting: a restarted daemon, `once` and `status` keep the soak clock running.

        A record counts only while the overlay has pinned that digest without a break since
        before it (a digest rolled back and pinned again starts over): ``whole`` gives an
        overlay with its whole history window read. Each (app, env, digest) is asked once
        per process; a forge that cannot answer leaves the sighting.
        """
        # Only the digests running now, seen by sighting alone, are worth asking or keeping.
        current = {(*key, str(state.digest)) for key, state in live.items() if _sighted(state)}
        if not current:  # every live source tells its start time (or none is set)
            self._records.clear()
            return live
        sources = {env.follows for env in policy.environments.values() if env.follows}
        asked: dict[str, dict[str, str]] = {}
        for (app, env), state in live.items():
            if _sighted(state) and env in sources and (app, env, state.digest) not in self._records:
                asked.setdefault(env, {})[app] = str(state.digest)
        for env, wanted in sorted(asked.items()):
            try:
                found = self._forge.seen_live(env, wanted)
            except ReconcilerError as exc:
                log.debug("no recorded live times for %s: %s", env, exc)
                continue
            for app, digest in wanted.items():
                self._records[(app, env, digest)] = found.get(app)
        out = {}
        for key, state in live.items():
            recorded = self._records.get((*key, str(state.digest)))
            overlay = overlays.get(key)
            if recorded is not None and overlay is not None:
                overlay = whole(key, overlay)
            out[key] = with_record(state, overlay, recorded)
        self._records = {k: v for k, v in self._records.items() if k in current}
        return out


def with_record(
    state: LiveState, overlay: OverlayState | None, recorded: datetime | None
) -> LiveState:
    """``state`` with ``since`` taken back to ``recorded`` (when the forge's records say
    its digest was first seen running) where that is earlier and the overlay has pinned the
    digest, unbroken, since before it; else ``state`` unchanged."""
    pin = overlay.pin if overlay else None
    if recorded is None or not _sighted(state) or overlay is None or pin is None:
        return state
    if pin.digest != state.digest:
        return state
    start = gates.pinned_since(overlay.history, pin.digest) or overlay.changed_at
    if start is None or not start <= recorded < (state.since or recorded):
        return state
    return replace(state, since=recorded, sighted=False)


def _sighted(state: LiveState) -> bool:
    """A steady digest whose ``since`` is only this process's sighting of it."""
    return state.sighted and state.digest is not None and not state.rolling
