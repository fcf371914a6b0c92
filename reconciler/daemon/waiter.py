"""How the loop waits between cycles, and how stop(), trigger() and signals cut it short.

notify() must be safe in a signal handler. A handler runs on the loop's own thread between
two bytecodes, possibly while that thread holds a lock, so notify() takes none (an Event or
a Condition would): it sends one byte to a socket that wait() watches with select().

A signal may also land on another thread (the file watcher's, the HTTP server's). Python
then runs the handler on the main thread only when that thread next executes bytecode,
which a thread blocked in select() does not. wake_on_signals() hands the socket to
signal.set_wakeup_fd, whose C-level handler writes to it from whichever thread caught the
signal, so select() returns and the Python handler runs.

After a cycle that found a rate limit spent, the loop waits on a RateLimitHold: until the
reset, bounded, with no trigger cutting it short (only stop() does).
"""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from reconciler.daemon.status import describe_error
from reconciler.errors import RateLimited

# A spent rate limit is waited for at most this long (GitHub's windows last an hour), plus a
# margin: resets are given to the second, and the service's clock is not ours.
MAX_RATE_LIMIT_WAIT = timedelta(hours=1)
RATE_LIMIT_MARGIN = timedelta(seconds=5)


class Waiter(Protocol):
    """Blocks the loop between cycles; ``notify`` cuts a wait short."""

    def wait(self, timeout: float) -> None:
        """Return after ``timeout`` seconds, or sooner once notify() was called (even before)."""
        ...

    def notify(self) -> None:
        """Wake the current or next wait(); safe from any thread and from a signal handler."""
        ...

    def wake_on_signals(self) -> Callable[[], None]:
        """Also wake on any signal caught by any thread (main thread only); returns an undo."""
        ...


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class SocketWaiter:
    """Waits in select() on a socket pair; notify() sends one byte and takes no lock."""

    def __init__(self) -> None:
        self._receive, self._send = socket.socketpair()
        self._receive.setblocking(False)  # noqa: FBT003 - socket's own API, positional-only
        self._send.setblocking(False)  # noqa: FBT003 - socket's own API, positional-only
        self._undo: Callable[[], None] | None = None

    def wait(self, timeout: float) -> None:
        """Block until notified or ``timeout`` seconds passed, then forget past notifications."""
        select.select([self._receive], [], [], max(timeout, 0.0))
        with contextlib.suppress(OSError):  # BlockingIOError: drained
            while self._receive.recv(4096):
                pass

    def notify(self) -> None:
        """Wake the waiter; a full buffer (already woken) or a closed waiter needs nothing."""
        with contextlib.suppress(OSError):
            self._send.send(b"\0")

    def wake_on_signals(self) -> Callable[[], None]:
        """Route signals' wakeup bytes to this waiter; the undo puts back the previous target."""
        ours = self._send.fileno()
        previous = signal.set_wakeup_fd(ours, warn_on_full_buffer=False)

        def undo() -> None:
            if self._undo is None:
                return
            self._undo = None
            current = signal.set_wakeup_fd(previous)
            if current != ours:  # someone routed signals elsewhere since: leave theirs
                signal.set_wakeup_fd(current)

        self._undo = undo
        return undo

    def close(self) -> None:
        """Release both sockets (kept open while signals may still write to them)."""
        if self._undo is not None:
            if not _on_main_thread():
                return  # closing would let a signal write into whatever reuses the fd
            self._undo()
        self._receive.close()
        self._send.close()


class RateLimitHold:
    """Until when no cycle may start because a rate limit is spent (by the loop's clock)."""

    def __init__(
        self,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        on_change: Callable[[datetime | None], None] | None,
        log: logging.Logger,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._on_change = on_change
        self._log = log
        self._until: float | None = None

    def start(self, limited: RateLimited) -> None:
        """Hold until ``limited`` resets, at most MAX_RATE_LIMIT_WAIT away; say so once."""
        ahead = (limited.until - self._wall_clock()).total_seconds()
        cap = MAX_RATE_LIMIT_WAIT.total_seconds()
        wait = min(max(ahead, 0.0), cap) + RATE_LIMIT_MARGIN.total_seconds()
        self._until = self._clock() + wait
        ends = self._wall_clock() + timedelta(seconds=wait)
        self._log.warning(
            "%s's rate limit is spent; waiting until %s (%.0f s)",
            limited.service,
            f"{ends:%Y-%m-%dT%H:%M:%SZ}",
            wait,
            extra={"event": "rate-limited", "service": limited.service, "wait_seconds": wait},
        )
        self._tell(limited.until)

    def left(self) -> float | None:
        """Seconds the hold has left (0 or less: over), or None when there is none."""
        return None if self._until is None else self._until - self._clock()

    def release(self) -> None:
        """End the hold, if any (its time is up, or the loop stops)."""
        if self._until is not None:
            self._until = None
            self._tell(None)

    def _tell(self, until: datetime | None) -> None:
        if self._on_change is not None:
            try:
                self._on_change(until)
            except Exception as exc:
                self._log.error("the on_rate_limit hook failed: %s", describe_error(exc))
