"""Progress of a clone or fetch: log lines in the daemon, a bar on a terminal.

libgit2 reports a transfer's progress many times a second; these reporters write at most
every few seconds (a log line) or ten times a second (a bar), by a clock tests inject.
They show the remote's display form, which never carries credentials (gitrepo.remote).
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

from reconciler.gitrepo.port import Transfer, TransferWatch

log = logging.getLogger("reconciler.gitrepo")

LOG_EVERY = 5.0  # seconds between two log lines while a transfer runs
QUIET = 2.0  # a transfer quicker than this ends without a line: most fetches are
BAR_EVERY = 0.1  # seconds between two redraws of the bar
BAR_DELAY = 0.5  # a bar for a fetch of a few objects would only flicker
BAR_RATE = 1.0  # the bar's rate is over the last second or two: the start is slow
BAR_WIDTH = 20
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size(count: float) -> str:
    """``count`` bytes in binary units: ``512 B``, ``45.6 MiB``."""
    unit = 0
    while count >= 1024 and unit < len(_UNITS) - 1:
        count /= 1024
        unit += 1
    return f"{count:.0f} B" if unit == 0 else f"{count:.1f} {_UNITS[unit]}"


def counts(transfer: Transfer) -> str:
    """``1234/5678 objects, 45.6 MiB``; then the deltas while libgit2 resolves them."""
    t = transfer
    objects = (
        f"{t.received_objects}/{t.total_objects}" if t.total_objects else f"{t.received_objects}"
    )
    text = f"{objects} objects, {size(t.received_bytes)}"
    if resolving(t):
        text += f", resolving deltas {t.indexed_deltas}/{t.total_deltas}"
    return text


def resolving(transfer: Transfer) -> bool:
    """Every object is in and libgit2 is resolving deltas (no bytes arrive meanwhile)."""
    t = transfer
    every_object_in = 0 < t.total_objects <= t.received_objects
    return every_object_in and t.indexed_deltas < t.total_deltas


class _Reporter:
    """Calls ``_show`` at most every ``every`` seconds, ``first`` seconds after the start
    at the earliest, with the rate over the last ``window`` seconds or more; and ``_end``
    once, when the transfer is done or has failed."""

    def __init__(
        self, clock: Callable[[], float], first: float, every: float, window: float
    ) -> None:
        self._clock = clock
        self._first = first
        self._every = every
        self._window = window
        self._started = clock()
        self._next = self._started + first
        self._base = (self._started, 0)  # (when, bytes received then): the rate's start

    def __call__(self, transfer: Transfer) -> None:
        now = self._clock()
        if transfer.stage == "started":
            self._started, self._next, self._base = now, now + self._first, (now, 0)
        elif transfer.stage == "receiving":
            if now >= self._next:
                self._show(transfer, now, self._rate(transfer, now))
                self._next = now + self._every
        else:
            self._end(transfer, now - self._started)

    def _rate(self, transfer: Transfer, now: float) -> float:
        since, then = self._base
        rate = (transfer.received_bytes - then) / (now - since) if now > since else 0.0
        if now - since >= self._window:
            self._base = (now, transfer.received_bytes)
        return rate

    def _show(self, transfer: Transfer, now: float, rate: float) -> None:
        raise NotImplementedError

    def _end(self, transfer: Transfer, seconds: float) -> None:
        raise NotImplementedError


class TransferLog(_Reporter):
    """INFO lines: one every ``every`` seconds while a transfer runs (its rate over that
    time), and one at its end when it took ``quiet`` seconds or more."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        every: float = LOG_EVERY,
        quiet: float = QUIET,
        logger: logging.Logger = log,
    ) -> None:
        super().__init__(clock, every, every, every)
        self._quiet = quiet
        self._log = logger

    def _show(self, transfer: Transfer, now: float, rate: float) -> None:
        self._say(transfer, f"{counts(transfer)}, {size(rate)}/s", now - self._started, rate)

    def _end(self, transfer: Transfer, seconds: float) -> None:
        if seconds < self._quiet:
            return
        rate = transfer.received_bytes / seconds
        if transfer.stage == "done":
            text = f"done in {seconds:.1f}s, {counts(transfer)} ({size(rate)}/s)"
        else:
            text = f"stopped after {seconds:.1f}s with {counts(transfer)}"
        self._say(transfer, text, seconds, rate)

    def _say(self, transfer: Transfer, text: str, seconds: float, rate: float) -> None:
        t = transfer
        self._log.info(
            "%s %s: %s",
            t.action,
            t.remote,
            text,
            extra={
                "event": "git-transfer",
                "action": t.action,
                "remote": t.remote,
                "stage": t.stage,
                "received_objects": t.received_objects,
                "total_objects": t.total_objects,
                "indexed_objects": t.indexed_objects,
                "indexed_deltas": t.indexed_deltas,
                "total_deltas": t.total_deltas,
                "received_bytes": t.received_bytes,
                "bytes_per_second": round(rate),
                "seconds": round(seconds, 3),
            },
        )


class TransferBar(_Reporter):
    """One line on ``stream`` (a terminal), redrawn with ``\\r`` at most every ``every``
    seconds from ``delay`` seconds into a transfer, and cleared at its end."""

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] = time.monotonic,
        *,
        every: float = BAR_EVERY,
        delay: float = BAR_DELAY,
        columns: Callable[[], int] = lambda: shutil.get_terminal_size().columns,
    ) -> None:
        super().__init__(clock, delay, every, BAR_RATE)
        self._stream = stream
        self._columns = columns
        self._drawn = 0  # the length of the line on screen: 0 when there is none

    def _show(self, transfer: Transfer, now: float, rate: float) -> None:
        line = bar_line(transfer, rate, self._columns() - 1)
        self._stream.write("\r" + line.ljust(self._drawn))
        self._stream.flush()
        self._drawn = len(line)

    def _end(self, transfer: Transfer, seconds: float) -> None:
        if self._drawn:
            self._stream.write("\r" + " " * self._drawn + "\r")
            self._stream.flush()
            self._drawn = 0


def bar_line(transfer: Transfer, rate: float, width: int) -> str:
    """``cloning REMOTE [#####     ] 45% 1234/5678 objects, 45.6 MiB, 12.3 MiB/s``, the
    remote shortened from its start to fit in ``width`` characters."""
    t = transfer
    if resolving(t):
        done, total = t.indexed_deltas, t.total_deltas
    else:
        done, total = t.received_objects, t.total_objects
    share = min(done / total, 1.0) if total else 0.0
    filled = round(share * BAR_WIDTH)
    tail = f" [{'#' * filled}{' ' * (BAR_WIDTH - filled)}] {share:4.0%} {counts(t)}"
    if not resolving(t):
        tail += f", {size(rate)}/s"
    room = width - len(tail) - len(t.action) - 1
    remote = t.remote if len(t.remote) <= room else "…" + t.remote[len(t.remote) - room + 1 :]
    return f"{t.action} {remote if room > 1 else ''}{tail}"[:width]


def for_stderr(stream: TextIO | None = None) -> TransferWatch:
    """A bar on stderr when it is a terminal the log writes no INFO lines to (the verbs
    that run once); log lines otherwise (the daemon, stderr sent to a file or a pipe)."""
    stream = stream or sys.stderr
    interactive = getattr(stream, "isatty", lambda: False)()
    if interactive and not log.isEnabledFor(logging.INFO):
        return TransferBar(stream)
    return TransferLog()
