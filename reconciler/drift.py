"""Drift and promotion lag, as pure functions of durable facts and ``now``.

Drift: what git wants (the overlay's digest) differs from what runs (the live digest).
Lag: an environment pins something other than what its source environment pins.
"Since" times come from facts that survive a restart (overlay commit times, the time the
live source first reported a digest), never from when the daemon happened to notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Pinned:
    """What an overlay pins and since when (the commit that last changed the pin)."""

    digest: str | None
    since: datetime | None


@dataclass(frozen=True)
class Running:
    """What a live source reports running and since when; ``rolling`` during a rollout."""

    digest: str | None
    since: datetime | None
    rolling: bool = False


@dataclass(frozen=True)
class Drift:
    """Whether git and the running environment disagree, and for how long."""

    drifted: bool
    known: bool  # False without a live source or a live answer: drift cannot be judged
    since: datetime | None
    rolling: bool

    def seconds(self, now: datetime) -> float:
        """How long the drift has lasted at ``now`` (0 when there is none)."""
        if not self.drifted or self.since is None:
            return 0.0
        return max(0.0, (now - self.since).total_seconds())


def drift(desired: Pinned, live: Running | None) -> Drift:
    """Drift between the overlay's pin and the running digest.

    A rollout in progress (pods on two digests, one of them the desired) is not drift. A
    drift starts when the later of the two facts changed: a new pin not yet rolled out, or
    a hand-made change to what runs.
    """
    if live is None or live.digest is None or desired.digest is None:
        return Drift(drifted=False, known=False, since=None, rolling=False)
    if live.rolling:
        return Drift(drifted=False, known=True, since=None, rolling=True)
    if live.digest == desired.digest:
        return Drift(drifted=False, known=True, since=None, rolling=False)
    moments = [t for t in (desired.since, live.since) if t is not None]
    return Drift(drifted=True, known=True, since=max(moments) if moments else None, rolling=False)


def lag_seconds(target: Pinned, source: Pinned, now: datetime) -> float:
    """How long ``target`` has pinned something other than ``source`` (0 when equal).

    The lag counts from when the source got its current pin: that is when the target
    started to trail it.
    """
    if source.digest is None or target.digest == source.digest or source.since is None:
        return 0.0
    return max(0.0, (now - source.since).total_seconds())
