"""The daemon loop on fake time, for the tests of its scheduling, failures and rate limits.

Each loop runs on the test's thread: the fake waiter advances the fake clock by whatever the
loop asks to wait (the wall clock moves with it), and the cycle callable scripts what
happens next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reconciler.daemon import Cadence, CycleRun, CycleStatus, Daemon, Waiter

OK = CycleStatus(ok=True, policy_valid=True, summary="2 apps, nothing to promote")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # the wall clock when a script starts


class FakeTime:
    """A monotonic clock and a waiter: waiting advances the clock, unless notified first."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.waits: list[float] = []
        self._notified = False
        # Told each wait's timeout before it begins (a webhook or a signal arriving then).
        self.on_wait: Callable[[float], None] | None = None

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float) -> None:
        if self.on_wait is not None:
            self.on_wait(timeout)
        if self._notified:
            self._notified = False
            return
        self.waits.append(timeout)
        self.now += timeout

    def notify(self) -> None:
        self._notified = True

    def wake_on_signals(self) -> Callable[[], None]:
        return lambda: None


_: Waiter = FakeTime()


Step = Callable[["Scripted"], CycleStatus]


@dataclass
class Scripted:
    """A daemon on fake time whose cycle n runs ``steps[n]``, then stops after the last."""

    steps: list[Step]
    interval: Callable[[Scripted], timedelta | Cadence] = lambda _s: timedelta(seconds=10)
    draws: list[float] = field(default_factory=list)
    jitter: float = 0.0
    max_backoff: timedelta = timedelta(minutes=5)
    stuck_after: timedelta | None = None
    probing_budget: timedelta = timedelta(0)
    during_wait: Callable[[Scripted, float], None] | None = None
    on_rate_limit: Callable[[datetime | None], None] | None = None  # besides ``told``
    on_stop: Callable[[], None] | None = None
    time: FakeTime = field(default_factory=FakeTime)
    starts: list[float] = field(default_factory=list)
    records: list[CycleRun] = field(default_factory=list)
    told: list[datetime | None] = field(default_factory=list)  # each on_rate_limit call
    daemon: Daemon = field(init=False)

    def __post_init__(self) -> None:
        self.started_at = self.time.now
        draws = iter(self.draws)
        during_wait = self.during_wait
        if during_wait is not None:
            self.time.on_wait = lambda timeout: during_wait(self, timeout)
        self.daemon = Daemon(
            self._cycle,
            interval=lambda: self.interval(self),
            jitter=self.jitter,
            max_backoff=self.max_backoff,
            stuck_after=self.stuck_after,
            probing_budget=self.probing_budget,
            clock=self.time.clock,
            wall_clock=self.wall,
            random_draw=lambda: next(draws, 0.0),
            waiter=self.time,
            on_cycle=self.records.append,
            on_rate_limit=self._told,
            on_stop=self.on_stop,
        )

    def wall(self) -> datetime:
        """The wall clock, moving with the fake monotonic one from T0."""
        return T0 + timedelta(seconds=self.time.now - self.started_at)

    def _told(self, until: datetime | None) -> None:
        self.told.append(until)
        if self.on_rate_limit is not None:
            self.on_rate_limit(until)

    def _cycle(self) -> CycleStatus:
        n = len(self.starts)
        self.starts.append(self.time.now)
        try:
            return self.steps[n](self)
        finally:
            if n == len(self.steps) - 1:
                self.daemon.stop("script done")

    def run(self) -> Scripted:
        assert self.daemon.run() == 0
        return self


def ok(_s: Scripted) -> CycleStatus:
    return OK
