"""When the next cycle runs: poll interval, jitter, backoff and triggers (pure, in seconds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

_MAX_DOUBLINGS = 16  # 2**16 intervals: far past any cap, and no float overflow


@dataclass(frozen=True)
class Cadence:
    """The interval the loop waits between cycles, and where it comes from, for the log.

    ``source`` None: the interval in force is not known yet (the daemon has not read its
    policy) and ``every`` only spaces the tries until it is; the loop then tells no interval
    and logs it once it is known, and again whenever it changes.
    """

    every: timedelta
    source: str | None = ""


def backoff_delay(interval: float, failures: int, cap: float) -> float:
    """Seconds between cycles after ``failures`` failed in a row: doubling, at most ``cap``.

    Never shorter than the interval itself, so a cap below a long interval changes nothing.
    """
    if failures <= 0:
        return interval
    return max(interval, min(interval * 2.0 ** min(failures, _MAX_DOUBLINGS), cap))


def next_delay(
    interval: float, *, failures: int, triggered: bool, jitter: float, draw: float, cap: float
) -> float:
    """Seconds from the end of a cycle to the start of the next one.

    ``draw`` in [0, 1) picks the jitter: up to ``jitter`` times the delay, added so the
    daemon never polls more often than asked. A trigger runs the next cycle at once, except
    while backing off, where it only cuts the wait down to the plain interval (a change may
    fix the failure; a storm of webhooks must not hammer a failing forge).
    """
    scheduled = backoff_delay(interval, failures, cap)
    scheduled += scheduled * jitter * draw
    if not triggered:
        return scheduled
    return 0.0 if failures <= 0 else min(scheduled, interval)


def trigger_wait(starts: Sequence[float], now: float, limit: int, window: float) -> float:
    """Seconds until a trigger may start another cycle, given when triggered cycles started.

    At most ``limit`` triggered cycles start in any ``window`` seconds; ``limit`` 0 means
    no limit. Triggers that arrive beyond it wait, coalesced, for the window to free a slot.
    """
    recent = [start for start in starts if now - start < window]
    if limit <= 0 or len(recent) < limit:
        return 0.0
    return recent[-limit] + window - now
