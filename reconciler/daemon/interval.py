"""The poll interval in force: read after every cycle, floored, and told in the log once it
is known and whenever it changes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from reconciler.daemon.schedule import Cadence
from reconciler.daemon.status import describe_error

# Floor of the poll interval: a zero interval from a bad caller would spin the loop.
MIN_INTERVAL = timedelta(seconds=1)
# Used only when the interval callable fails before it ever answered.
FALLBACK_INTERVAL = timedelta(seconds=30)


class PollInterval:
    """Where the loop reads its interval, and what it last told of it."""

    def __init__(
        self,
        given: Callable[[], timedelta | Cadence] | timedelta | Cadence,
        jitter: float,
        log: logging.Logger,
    ) -> None:
        """``given``: the interval, or a callable read after every cycle (see ``Cadence``)."""
        self._given: Callable[[], timedelta | Cadence] = (
            given if callable(given) else (lambda: given)
        )
        self._jitter = jitter
        self._log = log
        # Read by the loop thread only: the cadence last told, as (seconds, source).
        self._told: tuple[float, str] | None = None
        # Read by status() from other threads.
        self._lock = threading.Lock()
        self._every = FALLBACK_INTERVAL
        self._source: str | None = None  # where _every comes from (see Cadence)

    def in_force(self) -> timedelta:
        """The interval read last (the fallback before any was)."""
        with self._lock:
            return self._every

    def refresh(self) -> float:
        """Read the interval again (keeping the last when that fails): its seconds."""
        try:
            given = self._given()
        except Exception as exc:
            self._log.error(
                "cannot read the poll interval, keeping the last: %s", describe_error(exc)
            )
            with self._lock:
                given = Cadence(self._every, self._source)
        cadence = given if isinstance(given, Cadence) else Cadence(given)
        every = max(cadence.every, MIN_INTERVAL)
        with self._lock:
            self._every, self._source = every, cadence.source
        return every.total_seconds()

    def announce(self, watching: str) -> None:
        """Log that the loop starts, with the interval when it is known already."""
        interval = self.refresh()
        with self._lock:
            source = self._source
        if source is None:
            self._log.info(
                "started: a cycle now, then on the poll interval in force%s (logged once "
                "the policy is read)",
                watching,
                extra={"event": "started", "interval_seconds": None},
            )
            return
        self._told = (interval, source)
        self._log.info(
            "started: a cycle now, then %s%s",
            self._described(interval, source),
            watching,
            extra={"event": "started", "interval_seconds": interval},
        )

    def tell(self, interval: float) -> None:
        """Log the poll interval once it is known, and again whenever it changes."""
        with self._lock:
            source = self._source
        if source is None or self._told == (interval, source):
            return
        self._told = (interval, source)
        self._log.info(
            "poll interval: %s",
            self._described(interval, source),
            extra={"event": "interval", "interval_seconds": interval, "source": source},
        )

    def _described(self, interval: float, source: str) -> str:
        """``every 5s (+ up to 10% jitter), the policy's poll_interval``."""
        # 5s, 1.5s, 300s: the interval as a policy writes it, not rounded away.
        told = f"every {interval:g}s (+ up to {self._jitter * 100:.0f}% jitter)"
        return told + (f", {source}" if source else "")
