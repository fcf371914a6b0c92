"""How the loop stops: asked without a lock (a signal handler may ask, see signals.py), and
the last line it logs once the running cycle is over."""

from __future__ import annotations

import logging


class Stopping:
    """Whether and why the loop was told to stop."""

    def __init__(self, log: logging.Logger) -> None:
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

    def report(self, cycles: int) -> None:
        """The loop's last line: why it stopped and after how many cycles."""
        self._log.info(
            "stopped (%s) after %d cycle%s",
            self.reason,
            cycles,
            "" if cycles == 1 else "s",
            extra={"event": "stopped", "reason": self.reason, "cycles": cycles},
        )
