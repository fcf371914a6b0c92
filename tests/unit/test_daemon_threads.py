"""The daemon loop on real threads: triggers collapse, cycles never overlap, stop and signals.

Each daemon runs on its own thread with a one-hour interval, so only triggers start cycles;
tests synchronise on events set by the cycle or the waiter, never on sleeps.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from reconciler.daemon import (
    CycleRun,
    CycleStatus,
    Daemon,
    SocketWaiter,
    Waiter,
    install_signal_handlers,
)
from tests.unit.daemonharness import OK

GENEROUS = 30.0  # seconds: only reached when the behaviour under test is broken


class SignallingWaiter:
    """The real waiter, announcing each wait so a test knows the loop is idle."""

    def __init__(self) -> None:
        self.inner = SocketWaiter()
        self.waiting = threading.Event()

    def wait(self, timeout: float) -> None:
        self.waiting.set()
        self.inner.wait(timeout)

    def notify(self) -> None:
        self.inner.notify()

    def wake_on_signals(self) -> Callable[[], None]:
        return self.inner.wake_on_signals()

    def close(self) -> None:
        self.inner.close()


if TYPE_CHECKING:  # mypy checks the fit; at run time it would open a socket pair for nothing
    _w: Waiter = SignallingWaiter()


# -- triggers, overlap and stop, on real threads ------------------------------------------


@dataclass
class Threaded:
    """A daemon on its own thread with a one-hour interval: only triggers start cycles."""

    cycle: Callable[[], CycleStatus]
    waiter: SignallingWaiter = field(default_factory=SignallingWaiter)
    records: list[CycleRun] = field(default_factory=list)
    result: list[int] = field(default_factory=list)
    # Unlimited unless a test is about the limit: the others trigger cycles back to back.
    trigger_limit: int = 0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.daemon = Daemon(
            self.cycle,
            interval=timedelta(hours=1),
            waiter=self.waiter,
            on_cycle=self.records.append,
            trigger_limit=self.trigger_limit,
            clock=self.clock,
        )
        self.thread = threading.Thread(target=lambda: self.result.append(self.daemon.run()))

    def start(self) -> Threaded:
        self.thread.start()
        return self

    def idle(self) -> None:
        """Wait until the loop first waits for its next cycle: no cycle was due any more."""
        assert self.waiter.waiting.wait(GENEROUS)

    def finish(self) -> None:
        self.daemon.stop()
        self.thread.join(GENEROUS)
        assert not self.thread.is_alive()
        assert self.result == [0]


@pytest.fixture
def threaded() -> Iterator[list[Threaded]]:
    made: list[Threaded] = []
    yield made
    for t in made:  # never leave a loop running after a failed test
        t.daemon.stop()
        t.thread.join(GENEROUS)
        t.waiter.close()  # an injected waiter is the caller's to close


def test_triggers_during_a_cycle_collapse_into_one_follow_up(threaded: list[Threaded]) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def cycle() -> CycleStatus:
        calls.append(1)
        if len(calls) == 1:
            started.set()
            assert release.wait(GENEROUS)
        return OK

    t = Threaded(cycle)
    threaded.append(t)
    t.start()
    assert started.wait(GENEROUS)
    for reason in ("webhook push", "webhook pull_request", "webhook push", "file change: x"):
        t.daemon.trigger(reason)
    release.set()
    t.idle()  # the loop waits only once no trigger is pending
    assert len(calls) == 2
    assert t.records[1].trigger == "webhook push, webhook pull_request, file change: x"
    t.finish()


def test_triggers_beyond_the_limit_wait_coalesced_for_the_window(
    threaded: list[Threaded],
) -> None:
    # A frozen clock: the minute never passes until the test moves it, so "no cycle" is
    # observed at each idle wait rather than hoped for after a sleep.
    now = [1000.0]
    t = Threaded(lambda: OK, trigger_limit=2, clock=lambda: now[0])
    threaded.append(t)
    t.start().idle()

    def trigger_and_settle(reason: str) -> bool:
        t.waiter.waiting.clear()
        started = t.daemon.trigger(reason)
        t.idle()  # the loop saw the trigger and is waiting again
        return started

    assert [trigger_and_settle(f"webhook push {i}") for i in range(2)] == [True, True]
    assert len(t.records) == 3
    assert [trigger_and_settle(f"flood {i}") for i in range(8)] == [False] * 8
    assert len(t.records) == 3  # the limit is spent: no cycle for the flood yet
    now[0] += 60
    t.waiter.waiting.clear()
    t.waiter.notify()
    t.idle()
    assert len(t.records) == 4  # one cycle for all eight, once the window allows it
    assert t.records[3].trigger == "flood 0, flood 1, flood 2 and 5 more"
    t.finish()


def test_no_two_cycles_ever_overlap(threaded: list[Threaded]) -> None:
    lock = threading.Lock()
    active, most = [0], [0]
    done = threading.Event()

    def cycle() -> CycleStatus:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        # A trigger from another thread while this cycle runs must not start a cycle.
        other = threading.Thread(target=t.daemon.trigger, args=("webhook push",))
        other.start()
        other.join()
        with lock:
            active[0] -= 1
        if len(t.records) >= 20:
            done.set()
        return OK

    t = Threaded(cycle)
    threaded.append(t)
    t.start()

    def storm_of_triggers() -> None:
        for _ in range(200):
            t.daemon.trigger("storm")

    storm = [threading.Thread(target=storm_of_triggers) for _ in range(4)]
    for thread in storm:
        thread.start()
    for thread in storm:
        thread.join()
    assert done.wait(GENEROUS)
    t.finish()
    assert most[0] == 1


def test_stop_during_a_cycle_lets_it_finish(threaded: list[Threaded]) -> None:
    started, release = threading.Event(), threading.Event()

    def cycle() -> CycleStatus:
        started.set()
        assert release.wait(GENEROUS)
        return OK

    t = Threaded(cycle)
    threaded.append(t)
    t.start()
    assert started.wait(GENEROUS)
    t.daemon.stop("SIGTERM")
    assert t.daemon.stop_requested
    assert "stopping after this cycle" in t.daemon.status().healthy[1]
    assert t.thread.is_alive()  # still in the cycle: nothing interrupts it
    release.set()
    t.thread.join(GENEROUS)
    assert not t.thread.is_alive()
    assert t.result == [0]
    assert [r.status for r in t.records] == [OK]


def test_stop_while_waiting_returns_promptly(threaded: list[Threaded]) -> None:
    t = Threaded(lambda: OK)
    threaded.append(t)
    t.start()
    t.idle()  # waiting out the one-hour interval
    t.finish()
    assert len(t.records) == 1


def test_stop_before_run_runs_no_cycle() -> None:
    daemon = Daemon(lambda: OK, interval=timedelta(seconds=10))
    daemon.stop()
    assert daemon.run() == 0
    assert daemon.stats().cycles == 0


# -- signals ------------------------------------------------------------------------------


def test_signal_handlers_call_stop_and_are_restored() -> None:
    daemon = Daemon(lambda: OK, interval=timedelta(seconds=10))
    before = signal.getsignal(signal.SIGTERM)
    restore = install_signal_handlers(daemon)
    try:
        signal.raise_signal(signal.SIGTERM)
    finally:
        restore()
    assert daemon.stop_requested
    assert signal.getsignal(signal.SIGTERM) is before
    assert daemon.run() == 0
    assert daemon.stats().cycles == 0


def test_signals_caught_on_any_thread_are_routed_to_the_waiter_until_restored() -> None:
    daemon = Daemon(lambda: OK, interval=timedelta(seconds=10))
    restore = install_signal_handlers(daemon)
    try:
        # set_wakeup_fd can only be read by replacing it: read, then put back.
        routed = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(routed)
    finally:
        restore()
    after = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(after)
    assert routed not in (-1, after)
    daemon.stop()
    assert daemon.run() == 0


def test_signal_handlers_are_not_installed_off_the_main_thread() -> None:
    daemon = Daemon(lambda: OK, interval=timedelta(seconds=10))
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def off_main() -> None:
        install_signal_handlers(daemon)()
        seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=off_main)
    thread.start()
    thread.join()
    assert seen == [before]
    daemon.stop()
    assert daemon.run() == 0  # run() closes the waiter the daemon made for itself
