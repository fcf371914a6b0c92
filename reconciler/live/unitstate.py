"""What an environment runs of an app of several images: its parts' states made one.

A unit runs only when every part runs a digest; it is the set those digests make
(``reconciler.units``), rolling while any part rolls, and running since its last part
started. Pure: live sources that read each part's container call it.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler import units
from reconciler.snapshot import LiveState


def combine(parts: Mapping[str, LiveState]) -> LiveState:
    """One LiveState for the unit whose parts (by part name) are in ``parts``."""
    for name, state in sorted(parts.items()):
        if state.error is not None:
            return LiveState(None, error=f"{name}: {state.error}")
    if any(state.rolling for state in parts.values()):
        return LiveState(None, rolling=True)
    key = units.key({name: state.digest or "" for name, state in parts.items()})
    if not key:
        return LiveState(None)
    started = [state.since for state in parts.values() if state.since is not None]
    since = max(started) if len(started) == len(parts) else None
    return LiveState(key, since, sighted=any(state.sighted for state in parts.values()))
