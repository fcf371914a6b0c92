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

import collections
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

from reconciler.clock import utc_now
from reconciler.daemon.schedule import Cadence, next_delay, trigger_wait
from reconciler.daemon.status import (
    CycleRun,
    CycleStatus,
    DaemonStats,
    describe_error,
    readiness,
)
from reconciler.daemon.waiter import RateLimitHold, SocketWaiter, Waiter
from reconciler.errors import RateLimited
from reconciler.filewatch import FileWatcher
from reconciler.server import Status

# Floor of the poll interval: a zero interval from a bad caller would spin the loop.
MIN_INTERVAL = timedelta(seconds=1)
# Used only when the interval callable fails before it ever answered.
FALLBACK_INTERVAL = timedelta(seconds=30)
# Triggers (webhooks, file changes) start at most this many cycles a minute by default:
# a flood of valid deliveries must not turn into back-to-back cycles against the forge.
# A sample due now (or left out by a full round) brings the next cycle no sooner than this:
# never a spin. The margin makes the cycle find the gate due by the sampler's clock too.
MIN_WAKE = 0.1
DUE_MARGIN = 0.01
DEFAULT_TRIGGER_LIMIT = 60
TRIGGER_WINDOW = timedelta(minutes=1)


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
    ) -> None:
        """``interval``: the poll interval, or a callable read after every cycle; a Cadence
        also says where it comes from, or that it is not known yet (see ``Cadence``);
        ``trigger_limit``: triggered cycles that may start per minute (0: no limit);
        ``probing_budget``: how long a cycle may probe gates, on top of the stuck limit;
        ``on_rate_limit``: told a spent limit's reset when a wait for it starts, None at its end."""
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], got {jitter}")
        if trigger_limit < 0:
            raise ValueError(f"trigger_limit must not be negative, got {trigger_limit}")
        self._trigger_limit = trigger_limit
        # Start times of the recent cycles a trigger started; written by the loop thread only.
        self._triggered_starts: collections.deque[float] = collections.deque(
            maxlen=max(trigger_limit, 1)
        )
        self._cycle = cycle
        self._interval_source: Callable[[], timedelta | Cadence] = (
            interval if callable(interval) else (lambda: interval)
        )
        # The cadence last told in the log, as (seconds, source); read by the loop thread only.
        self._told: tuple[float, str] | None = None
        self._jitter = jitter
        self._max_backoff = max_backoff.total_seconds()
        self._stuck_after = stuck_after
        self._probing_budget = probing_budget
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
        self._log = logger or logging.getLogger("reconciler.daemon")
        self._hold = RateLimitHold(clock, wall_clock, on_rate_limit, self._log)
        # Written by stop()/trigger() without a lock (see the module docstring).
        self._stop_requested = False
        self._stop_reason = ""
        self._triggers: collections.deque[str] = collections.deque()
        # Read by status() from other threads: guarded by _lock, never taken by stop/trigger.
        self._lock = threading.Lock()
        self._phase = "not started"  # not started | running | waiting | stopped
        self._interval = FALLBACK_INTERVAL
        self._cadence_source: str | None = None  # where _interval comes from (see Cadence)
        self._running: tuple[int, float] | None = None  # (cycle number, started at)
        self._stats = DaemonStats()
        self._ready = False
        self._due: float | None = None  # when the last cycle said a gate sample falls due
        self._last: str = "no cycle has completed yet"
        self._started = False

    # -- control, from any thread ---------------------------------------------------------

    def trigger(self, reason: str) -> bool:
        """Run a cycle as soon as possible (after the running one, if any).

        False when the trigger limit is spent: the reason is kept and coalesced into the
        cycle that starts once the last minute's triggered cycles make room for it.
        """
        # Measured before the loop can see the reason (and count the cycle it starts).
        at_once = self._trigger_room() <= 0
        self._triggers.append(reason)
        self._waiter.notify()
        return at_once

    def _trigger_room(self) -> float:
        # Read from any thread: a snapshot of the deque the loop thread appends to.
        starts = tuple(self._triggered_starts)
        window = TRIGGER_WINDOW.total_seconds()
        return trigger_wait(starts, self._clock(), self._trigger_limit, window)

    def stop(self, reason: str = "stop requested") -> None:
        """Finish the running cycle, if any, then return from run(); safe in a signal handler."""
        if not self._stop_requested:
            self._stop_reason = reason
        self._stop_requested = True
        self._waiter.notify()

    def wake_on_signals(self) -> Callable[[], None]:
        """Let a signal caught on any thread wake the loop (main thread only); returns an undo."""
        return self._waiter.wake_on_signals()

    @property
    def stop_requested(self) -> bool:
        """True once stop() was called: a long cycle may end early between two actions."""
        return self._stop_requested

    def stats(self) -> DaemonStats:
        """Counters since start."""
        with self._lock:
            return self._stats

    def status(self) -> Status:
        """Health (the loop is not stuck in a cycle) and readiness (a cycle completed)."""
        now = self._clock()
        with self._lock:
            phase, running, interval = self._phase, self._running, self._interval
            ready, last = self._ready, self._last
        limit = self._stuck_limit(interval)
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
        if self._stop_requested and phase != "stopped":
            healthy = (healthy[0], healthy[1] + "; stopping after this cycle")
        return Status(healthy=healthy, ready=(ready, last))

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        """Run cycles until stop(); returns the exit code (0). Call once."""
        if self._started:
            raise RuntimeError("Daemon.run() may be called once")
        self._started = True
        interval = self._refresh_interval()
        watching = " and on file changes" if self._watch_path is not None else ""
        with self._lock:
            source = self._cadence_source
        if source is None:
            self._log.info(
                "started: a cycle now, then on the poll interval in force%s (logged once "
                "the policy is read)",
                watching,
                extra={"event": "started", "interval_seconds": None},
            )
        else:
            self._told = (interval, source)
            self._log.info(
                "started: a cycle now, then every %s (+ up to %.0f%% jitter)%s%s",
                _seconds(interval),
                self._jitter * 100,
                f", {source}" if source else "",
                watching,
                extra={"event": "started", "interval_seconds": interval},
            )
        watcher = self._start_watcher()
        try:
            self._loop()
        finally:
            self._hold.release()
            if watcher is not None:
                watcher.stop()
            with self._lock:
                self._phase = "stopped"
            if self._own_waiter is not None:
                self._own_waiter.close()
        stats = self.stats()
        self._log.info(
            "stopped (%s) after %d cycle%s",
            self._stop_reason,
            stats.cycles,
            "" if stats.cycles == 1 else "s",
            extra={"event": "stopped", "reason": self._stop_reason, "cycles": stats.cycles},
        )
        return 0

    def _loop(self) -> None:
        reasons = ["start"]
        while not self._stop_requested:
            reasons.extend(self._drain_triggers())
            self._run_cycle(_join_reasons(reasons))
            if self._stop_requested:
                return
            interval = self._refresh_interval()
            self._tell_interval(interval)
            pending = self._wait(self._clock(), interval, self._draw())
            if pending is None:
                return
            reasons, triggered = pending
            if triggered:
                self._triggered_starts.append(self._clock())

    def _wait(self, ended: float, interval: float, draw: float) -> tuple[list[str], bool] | None:
        """Wait for the next cycle's time or trigger: (its reasons, whether a trigger brought
        it forward), or None on stop()."""
        triggers: list[str] = []
        with self._lock:
            self._phase = "waiting"
        while True:
            if self._stop_requested:
                return None
            triggers.extend(self._drain_triggers())
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
                early = max(early, self._trigger_room())
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

    def _drain_triggers(self) -> list[str]:
        drained: list[str] = []
        while True:
            try:
                drained.append(self._triggers.popleft())
            except IndexError:
                return drained

    def _run_cycle(self, trigger: str) -> None:
        started = self._clock()
        with self._lock:
            number = self._stats.cycles + 1
            self._phase, self._running = "running", (number, started)
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
        self._record(number, outcome, error)
        self._log_cycle(number, trigger, duration, outcome, error)
        if self._on_cycle is not None:
            try:
                self._on_cycle(CycleRun(number, trigger, duration, outcome, error))
            except Exception as exc:
                self._log.error("the on_cycle hook failed: %s", describe_error(exc))
        if limited is not None:
            self._hold.start(limited)

    def _record(self, number: int, outcome: CycleStatus | None, error: str | None) -> None:
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

    def _log_cycle(
        self,
        number: int,
        trigger: str,
        duration: float,
        outcome: CycleStatus | None,
        error: str | None,
    ) -> None:
        extra: dict[str, object] = {
            "event": "cycle",
            "cycle": number,
            "trigger": trigger,
            "duration_seconds": round(duration, 3),
        }
        if outcome is None:
            extra.update(
                ok=False, error=error, consecutive_failures=self.stats().consecutive_failures
            )
            self._log.error(
                "cycle %d (%s) raised after %.2fs: %s",
                number,
                trigger,
                duration,
                error,
                extra=extra,
            )
            return
        extra.update(
            ok=outcome.ok,
            errors=outcome.errors,
            policy_valid=outcome.policy_valid,
            last_good_policy=outcome.last_good_policy,
        )
        level = logging.INFO if outcome.ok and not outcome.errors else logging.WARNING
        state = "ok" if outcome.ok else "incomplete"
        self._log.log(
            level,
            "cycle %d (%s) %s in %.2fs: %s",
            number,
            trigger,
            state,
            duration,
            outcome.summary,
            extra=extra,
        )

    def _refresh_interval(self) -> float:
        try:
            given = self._interval_source()
        except Exception as exc:
            self._log.error(
                "cannot read the poll interval, keeping the last: %s", describe_error(exc)
            )
            with self._lock:
                given = Cadence(self._interval, self._cadence_source)
        cadence = given if isinstance(given, Cadence) else Cadence(given)
        interval = max(cadence.every, MIN_INTERVAL)
        with self._lock:
            self._interval, self._cadence_source = interval, cadence.source
        return interval.total_seconds()

    def _tell_interval(self, interval: float) -> None:
        """Log the poll interval once it is known, and again whenever it changes."""
        with self._lock:
            source = self._cadence_source
        if source is None or self._told == (interval, source):
            return
        self._told = (interval, source)
        self._log.info(
            "poll interval: every %s (+ up to %.0f%% jitter)%s",
            _seconds(interval),
            self._jitter * 100,
            f", {source}" if source else "",
            extra={"event": "interval", "interval_seconds": interval, "source": source},
        )

    def _stuck_limit(self, interval: timedelta) -> float:
        # A cycle may spend its whole probing budget waiting on hanging endpoints: that
        # time is bounded and expected, so it never counts towards looking stuck.
        base = self._stuck_after
        if base is None:
            base = max(10 * interval, timedelta(minutes=5))
        return (base + self._probing_budget).total_seconds()

    def _start_watcher(self) -> FileWatcher | None:
        if self._watch_path is None:
            return None

        def changed(what: str) -> None:
            self.trigger(f"file change: {what}")

        watcher = FileWatcher(
            self._watch_path,
            changed,
            debounce_ms=self._watch_debounce_ms,
            logger=self._log,
        ).start()
        # The first cycle starts only once changes are watched, so none can slip in between.
        if watcher.wait_ready(timeout=10.0):
            self._log.info("watching %s for changes", watcher.scope.root)
        elif watcher.alive:
            self._log.warning(
                "%s is not watched yet; the first cycle starts anyway", self._watch_path
            )
        return watcher


def _seconds(interval: float) -> str:
    """``5s``, ``1.5s``, ``300s``: the interval as a policy writes it, not rounded away."""
    return f"{interval:g}s"


def _join_reasons(reasons: Iterable[str]) -> str:
    unique = list(dict.fromkeys(reasons))
    shown = ", ".join(unique[:3])
    return shown + (f" and {len(unique) - 3} more" if len(unique) > 3 else "")
