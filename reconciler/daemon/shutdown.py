"""How the loop stops: asked without a lock (a signal handler may ask, see signals.py), and
its way out once the running cycle is over: the caller's parts closed, then the last line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from reconciler.daemon.status import describe_error


class Stopping:
    """Whether and why the loop was told to stop, and what it closes on its way out."""

    def __init__(self, on_stop: Callable[[], None] | None, log: logging.Logger) -> None:
        """``on_stop``: closes what the cycles used, once no cycle runs any more."""
        self._on_stop = on_stop
        self._log = log
        # Plain attributes, set by ask() without a lock: a handler may run while the loop
        # thread holds any lock.
        self.requested = False
        self.reason = ""

    def ask(self, reason: str) -> None:
        """Ask the loop to stop; the first reason given is the one told."""
        if not self.requested:
            self.reason = reason
        self.requested = True

    def close(self) -> None:
        """Run ``on_stop`` once; a failure is logged, since the loop has stopped regardless."""
        hook, self._on_stop = self._on_stop, None
        if hook is None:
            return
        try:
            hook()
        except Exception as exc:
            self._log.error("the on_stop hook failed: %s", describe_error(exc))

    def report(self, cycles: int) -> None:
        """The loop's last line: why it stopped and after how many cycles."""
        self._log.info(
            "stopped (%s) after %d cycle%s",
            self.reason,
            cycles,
            "" if cycles == 1 else "s",
            extra={"event": "stopped", "reason": self.reason, "cycles": cycles},
        )
