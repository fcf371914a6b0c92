"""What /healthz and /readyz say of the loop: its phase, the cycle running and for how
long, whether a cycle completed, and the counters; written by the loop thread, read by any."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from reconciler.daemon.status import CycleStatus, DaemonStats, readiness
from reconciler.server import Status


class Health:
    """The loop's state as other threads see it, guarded by one lock."""

    def __init__(
        self,
        stuck_after: timedelta | None,
        probing_budget: timedelta,
        interval: Callable[[], timedelta],
    ) -> None:
        """``stuck_after``: how long a cycle may run before the loop looks stuck (None: ten
        intervals, at least five minutes); ``probing_budget`` is added to it."""
        self._stuck_after = stuck_after
        self._probing_budget = probing_budget
        self._interval = interval
        self._lock = threading.Lock()
        self._phase = "not started"  # not started | running | waiting | stopped
        self._running: tuple[int, float] | None = None  # (cycle number, started at)
        self._stats = DaemonStats()
        self._ready = False
        self._last: str = "no cycle has completed yet"

    def stats(self) -> DaemonStats:
        """Counters since start."""
        with self._lock:
            return self._stats

    def cycle_starts(self, at: float) -> int:
        """Note that the next cycle starts ``at`` (the loop's clock); its number."""
        with self._lock:
            number = self._stats.cycles + 1
            self._phase, self._running = "running", (number, at)
        return number

    def record(self, number: int, outcome: CycleStatus | None, error: str | None) -> None:
        """Count cycle ``number``'s outcome (None: it raised ``error``)."""
        failed = outcome is None or not outcome.ok
        with self._lock:
            s = self._stats
            self._stats = DaemonStats(
                cycles=number,
                failures=s.failures + failed,
                exceptions=s.exceptions + (outcome is None),
                consecutive_failures=s.consecutive_failures + 1 if failed else 0,
            )
            self._running = None
            if outcome is not None and outcome.ok and outcome.usable_policy:
                self._ready = True
            self._last = readiness(number, outcome, error, ready=self._ready)

    def waiting(self) -> None:
        """The loop waits for its next cycle."""
        with self._lock:
            self._phase = "waiting"

    def stopped(self) -> None:
        """The loop has ended: unhealthy from now on."""
        with self._lock:
            self._phase = "stopped"

    def status(self, now: float, *, stopping: bool) -> Status:
        """Health (the loop is not stuck in a cycle) and readiness (a cycle completed)."""
        with self._lock:
            phase, running = self._phase, self._running
            ready, last = self._ready, self._last
        limit = self._stuck_limit(self._interval())
        if phase == "stopped":
            healthy = (False, "stopped")
        elif running is not None and now - running[1] > limit:
            healthy = (
                False,
                f"cycle {running[0]} has been running for {now - running[1]:.0f}s, longer "
                f"than {limit:.0f}s: the loop looks stuck",
            )
        elif running is not None:
            healthy = (True, f"ok: cycle {running[0]} running for {now - running[1]:.0f}s")
        else:
            healthy = (True, f"ok: {phase}")
        if stopping and phase != "stopped":
            healthy = (healthy[0], healthy[1] + "; stopping after this cycle")
        return Status(healthy=healthy, ready=(ready, last))

    def _stuck_limit(self, interval: timedelta) -> float:
        # A cycle may spend its whole probing budget waiting on hanging endpoints: that
        # time is bounded and expected, so it never counts towards looking stuck.
        base = self._stuck_after
        if base is None:
            base = max(10 * interval, timedelta(minutes=5))
        return (base + self._probing_budget).total_seconds()
