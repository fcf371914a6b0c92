"""SIGTERM, SIGINT and SIGHUP end the daemon after its running cycle (docs/operations.md, stopping).

SIGHUP comes when the terminal that started the daemon closes (an SSH session ends,
``nohup`` forgotten): its default action kills the process wherever it is, mid-push
included, so it is handled like SIGTERM. Nothing is reloaded on it: the policy is re-read
from git every cycle anyway.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType

from reconciler.daemon.loop import Daemon

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def install_signal_handlers(
    daemon: Daemon, signals: Iterable[signal.Signals] = STOP_SIGNALS
) -> Callable[[], None]:
    """Make each signal call ``daemon.stop()``; returns a function restoring the old handlers.

    Does nothing off the main thread, where Python cannot install handlers. A second signal
    does not interrupt the cycle either: only SIGKILL does.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(number: int, _frame: FrameType | None) -> None:
        daemon.stop(signal.Signals(number).name)

    previous = {number: signal.signal(number, handle) for number in signals}
    unroute = daemon.wake_on_signals()

    def restore() -> None:
        unroute()
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore
