"""Triggers: webhooks and file changes asking for a cycle sooner than the poll.

``add`` takes no lock (it appends to a deque), so any thread may call it; only the loop
thread drains the reasons and notes when a triggered cycle starts.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from reconciler.daemon.schedule import trigger_wait
from reconciler.filewatch import FileWatcher

# Triggers (webhooks, file changes) start at most this many cycles a minute by default:
# a flood of valid deliveries must not turn into back-to-back cycles against the forge.
DEFAULT_TRIGGER_LIMIT = 60
TRIGGER_WINDOW = timedelta(minutes=1)


class Triggers:
    """The reasons given for a cycle not yet run, and when recent triggered cycles started."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        """``limit``: triggered cycles that may start per minute (0: no limit)."""
        if limit < 0:
            raise ValueError(f"trigger_limit must not be negative, got {limit}")
        self._limit = limit
        self._clock = clock
        self._reasons: collections.deque[str] = collections.deque()
        # Written by the loop thread only; read from any thread as a snapshot.
        self._starts: collections.deque[float] = collections.deque(maxlen=max(limit, 1))

    def add(self, reason: str) -> bool:
        """Keep ``reason`` for the next cycle; False when the limit holds that cycle back."""
        # Measured before the loop can see the reason (and count the cycle it starts).
        at_once = self.room() <= 0
        self._reasons.append(reason)
        return at_once

    def room(self) -> float:
        """Seconds until a trigger may start another cycle (0 or less: at once)."""
        starts = tuple(self._starts)
        window = TRIGGER_WINDOW.total_seconds()
        return trigger_wait(starts, self._clock(), self._limit, window)

    def drain(self) -> list[str]:
        """The reasons given since the last drain, oldest first."""
        drained: list[str] = []
        while True:
            try:
                drained.append(self._reasons.popleft())
            except IndexError:
                return drained

    def started(self) -> None:
        """Count a cycle a trigger brought forward, starting now, against the limit."""
        self._starts.append(self._clock())


def watch_files(
    path: Path, trigger: Callable[[str], object], debounce_ms: int, log: logging.Logger
) -> FileWatcher:
    """Watch ``path`` and call ``trigger`` on each change; returns once changes are seen
    (or after a bounded wait, said in the log)."""

    def changed(what: str) -> None:
        trigger(f"file change: {what}")

    watcher = FileWatcher(path, changed, debounce_ms=debounce_ms, logger=log).start()
    # The first cycle starts only once changes are watched, so none can slip in between.
    if watcher.wait_ready(timeout=10.0):
        log.info("watching %s for changes", watcher.scope.root)
    elif watcher.alive:
        log.warning("%s is not watched yet; the first cycle starts anyway", path)
    return watcher


def join_reasons(reasons: Iterable[str]) -> str:
    """The reasons a cycle runs, each once, as its log line names them."""
    unique = list(dict.fromkeys(reasons))
    shown = ", ".join(unique[:3])
    return shown + (f" and {len(unique) - 3} more" if len(unique) > 3 else "")
