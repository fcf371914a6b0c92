"""The daemon loop on fake time (daemonharness.py): cadence, jitter, backoff, failures,
health and readiness (test_daemon_threads.py covers concurrency and signals)."""

from __future__ import annotations

import itertools
import logging
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from reconciler.daemon import CycleRun, CycleStatus, Daemon, backoff_delay, next_delay, trigger_wait
from reconciler.errors import TransientError
from reconciler.metrics import Metrics
from reconciler.server import StatusServer
from tests.unit.daemonharness import OK, FakeTime, Scripted, Step, ok

INCOMPLETE = CycleStatus(ok=False, policy_valid=True, summary="fetch failed: remote hung up")
SECRET = "ghp_s3cr3tTokenValue"


def incomplete(_s: Scripted) -> CycleStatus:
    return INCOMPLETE


def raises(_s: Scripted) -> CycleStatus:
    raise TransientError("github.example: 502 Bad Gateway; retrying next cycle")


def takes(seconds: float, then: Step = ok) -> Step:
    def step(s: Scripted) -> CycleStatus:
        s.time.now += seconds
        return then(s)

    return step


def triggered(then: Step = ok) -> Step:
    def step(s: Scripted) -> CycleStatus:
        s.daemon.trigger("webhook push")
        return then(s)

    return step


# -- scheduling, pure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "failures", "cap", "expected"),
    [
        (30, 0, 300, 30),
        (30, 1, 300, 60),
        (30, 2, 300, 120),
        (30, 3, 300, 240),
        (30, 4, 300, 300),  # capped
        (30, 1000, 300, 300),  # no overflow however long it fails
        (600, 3, 300, 600),  # a cap below the interval never shortens it
        (1, 0, 0, 1),
    ],
)
def test_backoff_doubles_up_to_the_cap(
    interval: float, failures: int, cap: float, expected: float
) -> None:
    assert backoff_delay(interval, failures, cap) == expected


@pytest.mark.parametrize(
    ("interval", "failures", "triggered", "jitter", "draw", "expected"),
    [
        (30, 0, False, 0.0, 0.9, 30),
        (30, 0, False, 0.1, 0.0, 30),
        (30, 0, False, 0.1, 0.5, 31.5),
        (30, 0, False, 1.0, 0.5, 45),
        (30, 2, False, 0.1, 0.5, 126),  # jitter spreads the backoff too
        (30, 0, True, 0.1, 0.5, 0),  # a trigger runs at once
        (30, 2, True, 0.1, 0.5, 30),  # ... but only cuts a backoff down to the interval
        (30, 1, True, 0.0, 0.0, 30),
    ],
)
def test_next_delay(
    interval: float, failures: int, triggered: bool, jitter: float, draw: float, expected: float
) -> None:
    got = next_delay(
        interval, failures=failures, triggered=triggered, jitter=jitter, draw=draw, cap=300
    )
    assert got == pytest.approx(expected)


# -- scheduling, through the loop on fake time --------------------------------------------


@pytest.mark.parametrize(
    ("intervals", "draws", "jitter", "steps", "expected_starts"),
    [
        pytest.param([10, 10, 10], [], 0.0, [ok, ok, ok], [0, 10, 20], id="plain-interval"),
        pytest.param(
            [10, 10, 10], [0.5, 0.99, 0.0], 0.2, [ok, ok, ok], [0, 11, 22.98], id="jitter"
        ),
        pytest.param(
            [10, 60, 5], [], 0.0, [ok, ok, ok], [0, 60, 65], id="interval-changes-between-cycles"
        ),
        pytest.param(
            [10, 10, 10], [], 0.0, [takes(4), takes(30), ok], [0, 14, 54], id="from-cycle-end"
        ),
    ],
)
def test_cycles_start_on_interval_plus_jitter(
    intervals: list[float],
    draws: list[float],
    jitter: float,
    steps: list[Step],
    expected_starts: list[float],
) -> None:
    script = Scripted(
        steps,
        interval=lambda s: timedelta(seconds=intervals[min(len(s.starts), len(intervals) - 1)]),
        draws=draws,
        jitter=jitter,
    ).run()
    start = script.starts[0]
    assert [t - start for t in script.starts] == pytest.approx(expected_starts)


def test_jitter_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="jitter"):
        Daemon(lambda: OK, interval=timedelta(seconds=10), jitter=1.5)


def test_a_zero_interval_does_not_spin() -> None:
    script = Scripted([ok, ok], interval=lambda _s: timedelta(0)).run()
    assert script.starts[1] - script.starts[0] == 1.0


# -- failures and backoff -----------------------------------------------------------------


def test_a_raising_cycle_is_logged_counted_and_the_next_cycle_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def leaks(_s: Scripted) -> CycleStatus:
        raise ValueError(f"https://x-access-token:{SECRET}@github.example/org/repo.git")

    caplog.set_level(logging.INFO, logger="reconciler")
    script = Scripted([raises, leaks, ok]).run()

    stats = script.daemon.stats()
    assert (stats.cycles, stats.exceptions, stats.failures, stats.consecutive_failures) == (
        3,
        2,
        2,
        0,
    )
    assert [r.status for r in script.records] == [None, None, OK]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "TransientError: github.example: 502 Bad Gateway" in errors[0].getMessage()
    assert "ValueError at test_daemon.py" in errors[1].getMessage()
    assert SECRET not in caplog.text
    assert SECRET not in repr(script.records)


def test_backoff_grows_while_cycles_fail_and_resets_on_success() -> None:
    script = Scripted(
        [raises, incomplete, raises, raises, ok, raises, ok],
        max_backoff=timedelta(seconds=35),
    ).run()
    # After each cycle: 20 (2x), 35 (4x capped), 35, 35, then 10 (reset), 20 (2x again).
    assert script.time.waits == [20, 35, 35, 35, 10, 20]
    assert [r.trigger for r in script.records] == [
        "start",
        "retry 1",
        "retry 2",
        "retry 3",
        "retry 4",
        "poll",
        "retry 1",
    ]


def test_a_trigger_cuts_a_backoff_down_to_the_interval() -> None:
    script = Scripted([triggered(raises), raises, triggered(ok), ok]).run()
    start = script.starts[0]
    # Failing: the trigger waits the plain 10s, not 20s; the next failure backs off to 40s;
    # healthy again: a trigger runs the next cycle at once.
    assert [t - start for t in script.starts] == [0, 10, 50, 50]
    assert [r.trigger for r in script.records][1:] == ["webhook push", "retry 2", "webhook push"]


def test_a_failing_on_cycle_hook_does_not_stop_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    def hook(record: CycleRun) -> None:
        seen.append(record.number)
        raise RuntimeError(SECRET)

    time = FakeTime()
    daemon: Daemon

    def cycle() -> CycleStatus:
        if len(seen) == 1:
            daemon.stop()
        return OK

    daemon = Daemon(
        cycle, interval=timedelta(seconds=5), clock=time.clock, waiter=time, on_cycle=hook
    )
    assert daemon.run() == 0
    assert seen == [1, 2]
    assert "on_cycle hook failed: RuntimeError" in caplog.text
    assert SECRET not in caplog.text


# -- health and readiness -----------------------------------------------------------------


def returns(outcome: CycleStatus) -> Step:
    return lambda _s: outcome


def status_after(outcomes: list[CycleStatus | None]) -> tuple[bool, str]:
    def step(outcome: CycleStatus | None) -> Step:
        return raises if outcome is None else returns(outcome)

    return Scripted([step(o) for o in outcomes]).run().daemon.status().ready


INVALID = CycleStatus(ok=True, policy_valid=False, summary="promotions.toml invalid")
LAST_GOOD = CycleStatus(
    ok=True, policy_valid=False, last_good_policy=True, summary="on last good policy"
)


@pytest.mark.parametrize(
    ("outcomes", "ready", "reason"),
    [
        pytest.param([None], False, "cycle 1 failed: TransientError", id="raised"),
        pytest.param([INCOMPLETE], False, "could not complete: fetch failed", id="incomplete"),
        pytest.param([INVALID], False, "fix promotions.toml", id="no-valid-policy-yet"),
        pytest.param([OK], True, "cycle 1 ok", id="ok"),
        pytest.param([LAST_GOOD], True, "last good policy", id="last-good-policy"),
        pytest.param([OK, INVALID], True, "no valid policy", id="stays-ready"),
        pytest.param([OK, None], True, "cycle 2 failed", id="stays-ready-after-a-failure"),
        pytest.param([INVALID, INCOMPLETE, OK], True, "cycle 3 ok", id="ready-once-ok"),
    ],
)
def test_readiness(outcomes: list[CycleStatus | None], ready: bool, reason: str) -> None:
    got_ready, got_reason = status_after(outcomes)
    assert got_ready is ready
    assert reason in got_reason


def test_not_ready_before_the_first_cycle_completes() -> None:
    daemon = Daemon(lambda: OK, interval=timedelta(seconds=10), waiter=FakeTime())
    assert daemon.status().ready == (False, "no cycle has completed yet")
    assert daemon.status().healthy[0] is True


@pytest.mark.parametrize(
    ("interval", "stuck_after", "running_for", "healthy"),
    [
        (10, None, 299, True),  # limit: max(10 x 10s, 5 min) = 300s
        (10, None, 301, False),
        (60, None, 599, True),  # limit: 10 x 60s
        (60, None, 601, False),
        (60, timedelta(seconds=30), 31, False),  # an explicit limit
        (60, timedelta(seconds=30), 29, True),
    ],
)
def test_healthy_unless_a_cycle_runs_longer_than_the_limit(
    interval: float, stuck_after: timedelta | None, running_for: float, healthy: bool
) -> None:
    seen: list[tuple[bool, str]] = []

    def stuck(s: Scripted) -> CycleStatus:
        s.time.now += running_for
        seen.append(s.daemon.status().healthy)
        return OK

    Scripted(
        [stuck], interval=lambda _s: timedelta(seconds=interval), stuck_after=stuck_after
    ).run()
    assert seen[0][0] is healthy
    assert ("looks stuck" in seen[0][1]) is not healthy


@pytest.mark.parametrize(
    ("stuck_after", "running_for", "healthy"),
    [
        (None, 359, True),  # limit: 5 min + the 60s probing budget
        (None, 361, False),
        (timedelta(seconds=30), 89, True),  # an explicit limit + the budget
        (timedelta(seconds=30), 91, False),
    ],
)
def test_a_cycle_within_its_probing_budget_is_never_called_stuck(
    stuck_after: timedelta | None, running_for: float, healthy: bool
) -> None:
    seen: list[tuple[bool, str]] = []

    def probing(s: Scripted) -> CycleStatus:
        s.time.now += running_for
        seen.append(s.daemon.status().healthy)
        return OK

    Scripted([probing], stuck_after=stuck_after, probing_budget=timedelta(seconds=60)).run()
    assert seen[0][0] is healthy, seen


def test_status_is_served_on_healthz_and_readyz() -> None:
    served: list[tuple[int, int]] = []

    def get(server: StatusServer, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://{server.address}{path}", timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def cycle(s: Scripted) -> CycleStatus:
        served.append((get(server, "/healthz"), get(server, "/readyz")))
        return OK

    script = Scripted([cycle, cycle])
    server = StatusServer("127.0.0.1:0", Metrics(), script.daemon.status).start()
    try:
        script.run()
        served.append((get(server, "/healthz"), get(server, "/readyz")))
    finally:
        server.stop()
    # In cycle 1: healthy, not ready; in cycle 2: ready; stopped: unhealthy.
    assert served == [(200, 503), (200, 200), (503, 200)]


def test_unhealthy_once_stopped() -> None:
    daemon = Scripted([ok]).run().daemon
    assert daemon.status().healthy == (False, "stopped")


def test_run_twice_is_refused() -> None:
    daemon = Scripted([ok]).run().daemon
    with pytest.raises(RuntimeError, match="once"):
        daemon.run()


# -- the way out ----------------------------------------------------------------------------


def stopped_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "stopped"]


@pytest.mark.parametrize(
    ("stop_while_waiting", "said"),
    [
        pytest.param(False, "stopped (script done) after 2 cycles", id="after-the-last-cycle"),
        pytest.param(True, "stopped (SIGTERM) after 1 cycle", id="while-waiting"),
    ],
)
def test_on_stop_runs_once_when_the_loop_has_ended_before_its_last_line(
    caplog: pytest.LogCaptureFixture, stop_while_waiting: bool, said: str
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.daemon")
    seen: list[tuple[int, tuple[bool, str], list[str]]] = []

    def on_stop() -> None:
        seen.append((len(script.starts), script.daemon.status().healthy, stopped_lines(caplog)))

    def sigterm(s: Scripted, _timeout: float) -> None:
        s.daemon.stop("SIGTERM")

    script = Scripted(
        [ok, ok], on_stop=on_stop, during_wait=sigterm if stop_while_waiting else None
    )
    script.run()

    cycles = len(script.starts)
    assert seen == [(cycles, (False, "stopped"), [])]  # no cycle after it, nothing said yet
    assert stopped_lines(caplog) == [said]


def test_a_failing_on_stop_is_logged_and_the_loop_still_returns_0(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def on_stop() -> None:
        raise RuntimeError(SECRET)

    caplog.set_level(logging.INFO, logger="reconciler.daemon")
    Scripted([ok], on_stop=on_stop).run()

    assert "the on_stop hook failed: RuntimeError" in caplog.text
    assert SECRET not in caplog.text
    assert stopped_lines(caplog) == ["stopped (script done) after 1 cycle"]


@pytest.mark.parametrize(
    ("starts", "now", "limit", "expected"),
    [
        ((), 100, 2, 0),  # nothing started recently: a trigger runs at once
        ((90,), 100, 2, 0),  # one slot left
        ((50, 90), 100, 2, 10),  # full: wait until the older start leaves the minute
        ((30, 50, 90), 100, 2, 10),  # only the last `limit` starts matter
        ((30, 40), 100, 2, 0),  # both over a minute ago
        ((90, 95, 99), 100, 0, 0),  # 0: no limit
    ],
)
def test_trigger_wait(starts: tuple[float, ...], now: float, limit: int, expected: float) -> None:
    assert trigger_wait(starts, now, limit, 60) == pytest.approx(expected)


def due_in(seconds: float) -> Step:
    """A cycle after which a gate sample falls due in ``seconds``."""
    return lambda _s: CycleStatus(
        ok=True, policy_valid=True, summary="a candidate mid-streak", wake_in=seconds
    )


def test_a_gate_sample_due_before_the_poll_brings_the_next_cycle_forward() -> None:
    # Poll every 10 s; the candidate's gate wants its next sample 2 s after the first.
    run = Scripted([due_in(2), due_in(2), ok, ok]).run()
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(run.starts)]
    assert gaps == [2.01, 2.01, 10.0]  # at the gate's interval, then back to the poll
    assert [r.trigger for r in run.records] == [
        "start",
        "due",
        "due",
        "poll",
    ]


def test_a_sample_due_now_never_spins_the_loop() -> None:
    run = Scripted([due_in(-5), due_in(0), ok]).run()
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(run.starts)]
    assert gaps == [0.1, 0.1]  # MIN_WAKE


def test_a_later_sample_does_not_delay_the_poll() -> None:
    run = Scripted([due_in(60), ok]).run()
    assert [round(b - a, 3) for a, b in itertools.pairwise(run.starts)] == [10.0]
