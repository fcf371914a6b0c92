"""The loop of `reconciler run`: when to run a cycle, one at a time, until told to stop.

The loop knows nothing of what a cycle does; it is handed a callable that returns a
CycleStatus. The CLI builds a Daemon, calls install_signal_handlers(daemon), serves
daemon.status on /healthz and /readyz, forwards webhooks to daemon.trigger(), then
returns daemon.run().
"""

from reconciler.daemon.loop import Daemon
from reconciler.daemon.schedule import Cadence, backoff_delay, next_delay, trigger_wait
from reconciler.daemon.signals import install_signal_handlers
from reconciler.daemon.status import CycleRun, CycleStatus, DaemonStats, describe_error
from reconciler.daemon.waiter import SocketWaiter, Waiter

__all__ = [
    "Cadence",
    "CycleRun",
    "CycleStatus",
    "Daemon",
    "DaemonStats",
    "SocketWaiter",
    "Waiter",
    "backoff_delay",
    "describe_error",
    "install_signal_handlers",
    "next_delay",
    "trigger_wait",
]
