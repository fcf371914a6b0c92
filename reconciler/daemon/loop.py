"""The Daemon: runs a cycle at start, on a cadence and on triggers; never two at once.

Cycles run only on the thread that called ``run()``, so two can never overlap; triggers
that arrive while a cycle runs collapse into one follow-up cycle. ``stop()`` and
``trigger()`` take no lock (they set a flag or append to a deque, then notify the waiter),
which keeps ``stop()`` safe in a signal handler. The loop never interrupts the running
cycle; the cycle reads ``stop_requested`` to cut its probing short and end early. A cycle
that raises RateLimited holds the next one until the limit resets (bounded): no trigger
cuts that wait short, only ``stop()``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from reconciler.clock import utc_now
from reconciler.daemon.health import Health
from reconciler.daemon.interval import PollInterval
from reconciler.daemon.schedule import Cadence, next_delay
from reconciler.daemon.shutdown import Stopping
from reconciler.daemon.status import CycleRun, CycleStatus, DaemonStats, describe_error, log_cycle
from reconciler.daemon.triggers import DEFAULT_TRIGGER_LIMIT, Triggers, join_reasons, watch_files
from reconciler.daemon.waiter import RateLimitHold, SocketWaiter, Waiter
from reconciler.errors import RateLimited
from reconciler.server import Status

# A sample due now (or left out by a full round) brings the next cycle no sooner than this:
# never a spin. The margin makes the cycle find the gate due by the sampler's clock too.
MIN_WAKE = 0.1
DUE_MARGIN = 0.01


class Daemon:
    """Runs ``cycle`` on a cadence and on triggers, one at a time, until ``stop()``."""

    def __init__(  # noqa: PLR0913 the loop's settings and hooks, all keyword-only with defaults
        self,
        cycle: Callable[[], CycleStatus],
        *,
        interval: Callable[[], timedelta | Cadence] | timedelta | Cadence,
        jitter: float = 0.1,
        max_backoff: timedelta = timedelta(minutes=5),
        stuck_after: timedelta | None = None,
        probing_budget: timedelta = timedelta(0),
        watch_path: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        random_draw: Callable[[], float] = random.random,
        waiter: Waiter | None = None,
        on_cycle: Callable[[CycleRun], None] | None = None,
        logger: logging.Logger | None = None,
        watch_debounce_ms: int = 1600,
        trigger_limit: int = DEFAULT_TRIGGER_LIMIT,
        wall_clock: Callable[[], datetime] = utc_now,
        on_rate_limit: Callable[[datetime | None], None] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        """``interval``: the poll interval, or a callable read after every cycle; a Cadence
        also says where it comes from, or that it is not known yet (see ``Cadence``);
        ``trigger_limit``: triggered cycles that may start per minute (0: no limit);
        ``probing_budget``: how long a cycle may probe gates, on top of the stuck limit;
        ``on_rate_limit``: told a spent limit's reset when a wait for it starts, None at its end;
        ``on_stop``: called once the loop has ended, before its last line."""
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], got {jitter}")
        self._triggers = Triggers(trigger_limit, clock)
        self._cycle = cycle
        self._log = logger or logging.getLogger("reconciler.daemon")
        self._interval = PollInterval(interval, jitter, self._log)
        self._jitter = jitter
        self._max_backoff = max_backoff.total_seconds()
        self._watch_path = watch_path
        self._watch_debounce_ms = watch_debounce_ms
        self._clock = clock
        self._draw = random_draw
        own: SocketWaiter | None = None
        if waiter is None:
            waiter = own = SocketWaiter()
        self._own_waiter = own  # closed by run(); an injected waiter belongs to the caller
        self._waiter = waiter
        self._on_cycle = on_cycle
        self._hold = RateLimitHold(clock, wall_clock, on_rate_limit, self._log)
        self._stopping = Stopping(on_stop, self._log)
        self._health = Health(stuck_after, probing_budget, self._interval.in_force)
        self._due: float | None = None  # when the last cycle said a gate sample falls due
        self._started = False

    # -- control, from any thread ---------------------------------------------------------

    def trigger(self, reason: str) -> bool:
        """Run a cycle as soon as possible (after the running one, if any).

        False when the trigger limit is spent: the reason is kept and coalesced into the
        cycle that starts once the last minute's triggered cycles make room for it.
        """
        at_once = self._triggers.add(reason)
        self._waiter.notify()
        return at_once

    def stop(self, reason: str = "stop requested") -> None:
        """Finish the running cycle, if any, then return from run(); safe in a signal handler."""
        self._stopping.ask(reason)
        self._waiter.notify()

    def wake_on_signals(self) -> Callable[[], None]:
        """Let a signal caught on any thread wake the loop (main thread only); returns an undo."""
        return self._waiter.wake_on_signals()

    @property
    def stop_requested(self) -> bool:
        """True once stop() was called: a long cycle may end early between two actions."""
        return self._stopping.requested

    def stats(self) -> DaemonStats:
        """Counters since start."""
        return self._health.stats()

    def status(self) -> Status:
        """Health (the loop is not stuck in a cycle) and readiness (a cycle completed)."""
        return self._health.status(self._clock(), stopping=self._stopping.requested)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        """Run cycles until stop(); returns the exit code (0). Call once."""
        if self._started:
            raise RuntimeError("Daemon.run() may be called once")
        self._started = True
        path = self._watch_path
        self._interval.announce(" and on file changes" if path is not None else "")
        watcher = (
            None
            if path is None
            else watch_files(path, self.trigger, self._watch_debounce_ms, self._log)
        )
        try:
            self._loop()
        finally:
            self._hold.release()
            if watcher is not None:
                watcher.stop()
            self._health.stopped()
            self._stopping.close()
            if self._own_waiter is not None:
                self._own_waiter.close()
        self._stopping.report(self.stats().cycles)
        return 0

    def _loop(self) -> None:
        reasons = ["start"]
        while not self._stopping.requested:
            reasons.extend(self._triggers.drain())
            self._run_cycle(join_reasons(reasons))
            if self._stopping.requested:
                return
            interval = self._interval.refresh()
            self._interval.tell(interval)
            pending = self._wait(self._clock(), interval, self._draw())
            if pending is None:
                return
            reasons, triggered = pending
            if triggered:
                self._triggers.started()

    def _wait(self, ended: float, interval: float, draw: float) -> tuple[list[str], bool] | None:
        """Wait for the next cycle's time or trigger: (its reasons, whether a trigger brought
        it forward), or None on stop()."""
        triggers: list[str] = []
        self._health.waiting()
        while True:
            if self._stopping.requested:
                return None
            triggers.extend(self._triggers.drain())
            failures = self.stats().consecutive_failures
            now = self._clock()
            held = self._hold.left()
            if held is not None:
                # Triggers wait as well: a cycle before the reset would be refused again.
                if held > 0:
                    self._waiter.wait(held)
                    continue
                self._hold.release()
                return [*triggers, "rate limit reset"], False
            remaining = ended + self._delay(interval, failures, triggered=False, draw=draw) - now
            due = self._due
            if due is not None and failures == 0 and due - now < remaining:
                if due <= now:
                    return [*triggers, "due"], False
                remaining = due - now
            brought_forward = False
            if triggers:
                # A trigger brings the cycle forward, but no earlier than the limit allows.
                early = ended + self._delay(interval, failures, triggered=True, draw=draw) - now
                early = max(early, self._triggers.room())
                brought_forward = early < remaining
                remaining = min(remaining, early)
            if remaining <= 0:
                if triggers:
                    return triggers, brought_forward
                return (["poll"] if failures == 0 else [f"retry {failures}"]), False
            self._waiter.wait(remaining)

    def _delay(self, interval: float, failures: int, *, triggered: bool, draw: float) -> float:
        return next_delay(
            interval,
            failures=failures,
            triggered=triggered,
            jitter=self._jitter,
            draw=draw,
            cap=self._max_backoff,
        )

    def _run_cycle(self, trigger: str) -> None:
        started = self._clock()
        number = self._health.cycle_starts(started)
        outcome: CycleStatus | None = None
        error: str | None = None
        limited: RateLimited | None = None
        try:
            outcome = self._cycle()
        except Exception as exc:
            error = describe_error(exc)
            limited = exc if isinstance(exc, RateLimited) else None
        duration = self._clock() - started
        # A gate sample falls due at the gate's interval: the next cycle comes no later.
        wake = outcome.wake_in if outcome is not None and outcome.ok else None
        self._due = None if wake is None else self._clock() + max(wake + DUE_MARGIN, MIN_WAKE)
        self._health.record(number, outcome, error)
        run = CycleRun(number, trigger, duration, outcome, error)
        log_cycle(self._log, run, self.stats().consecutive_failures)
        if self._on_cycle is not None:
            try:
                self._on_cycle(run)
            except Exception as exc:
                self._log.error("the on_cycle hook failed: %s", describe_error(exc))
        if limited is not None:
            self._hold.start(limited)
