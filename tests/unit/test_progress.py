"""Progress of clones and fetches (log lines, a terminal bar) and the first cycle's phases,
on a fake clock: no test sleeps."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import replace

import pytest

from reconciler.gitrepo.port import Transfer, TransferWatch
from reconciler.gitrepo.remote import parse_remote
from reconciler.phases import Stopwatch
from reconciler.progress import TransferBar, TransferLog, bar_line, for_stderr, size
from tests.unit.daemonharness import FakeTime

REMOTE = parse_remote("https://git.example.com/platform/config.git").display
MIB = 1024 * 1024


def receiving(
    received: int, total: int = 5678, mib: float = 0.0, action: str = "cloning", deltas: int = 0
) -> Transfer:
    """``deltas``: how many there are, of which a third are resolved."""
    return Transfer(
        action,
        REMOTE,
        received_objects=received,
        total_objects=total,
        indexed_objects=received,
        indexed_deltas=deltas // 3,
        total_deltas=deltas,
        received_bytes=int(mib * MIB),
    )


def started(
    make: Callable[[Callable[[], float]], TransferWatch], action: str = "cloning"
) -> tuple[FakeTime, TransferWatch]:
    """The reporter ``make`` builds on a fake clock at 0, told that a transfer started."""
    time = FakeTime(0.0)
    report = make(time.clock)
    report(Transfer(action, REMOTE, "started"))
    return time, report


def transfer_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "git-transfer"]


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="reconciler.gitrepo")
    return caplog


def test_a_long_clone_logs_a_line_every_five_seconds_and_one_at_its_end(
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    time, report = started(TransferLog)
    for second in range(1, 13):  # libgit2 reports far more often than once a second
        time.now = second
        report(receiving(second * 400, mib=second * 10.0))
    time.now = 12.5
    report(replace(receiving(5678, mib=125.0), stage="done"))

    lines = transfer_lines(caplog_info)
    assert [r.getMessage() for r in lines] == [
        f"cloning {REMOTE}: 2000/5678 objects, 50.0 MiB, 10.0 MiB/s",
        f"cloning {REMOTE}: 4000/5678 objects, 100.0 MiB, 10.0 MiB/s",
        f"cloning {REMOTE}: done in 12.5s, 5678/5678 objects, 125.0 MiB (10.0 MiB/s)",
    ]
    first = vars(lines[0])
    assert {k: first[k] for k in ("stage", "received_objects", "total_objects", "seconds")} == {
        "stage": "receiving",
        "received_objects": 2000,
        "total_objects": 5678,
        "seconds": 5.0,
    }
    assert first["received_bytes"] == 50 * MIB
    assert first["bytes_per_second"] == 10 * MIB
    assert first["indexed_objects"] == 2000
    assert (first["action"], first["remote"]) == ("cloning", REMOTE)
    assert vars(lines[-1])["stage"] == "done"


def test_the_rate_is_over_the_last_line_so_a_stall_shows(
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    time, report = started(TransferLog, "fetching from")
    time.now = 5.0
    report(receiving(100, mib=50.0))
    time.now = 10.0
    report(receiving(100, mib=50.0))
    assert [r.getMessage().rsplit(", ", 1)[-1] for r in transfer_lines(caplog_info)] == [
        "10.0 MiB/s",
        "0 B/s",
    ]


def test_a_quick_fetch_says_nothing_and_a_slow_failure_says_where_it_stopped(
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    time, report = started(TransferLog, "fetching from")
    time.now = 1.9
    report(receiving(3, total=3, mib=0.01))
    report(replace(receiving(3, total=3, mib=0.01), stage="done"))
    assert transfer_lines(caplog_info) == []

    report(Transfer("fetching from", REMOTE, "started"))
    time.now = 4.9
    report(replace(receiving(10, mib=1.5, action="fetching from"), stage="failed"))
    (line,) = transfer_lines(caplog_info)
    assert line.getMessage() == (
        f"fetching from {REMOTE}: stopped after 3.0s with 10/5678 objects, 1.5 MiB"
    )


def test_resolving_deltas_is_shown_once_every_object_is_in(
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    time, report = started(TransferLog)
    time.now = 6.0
    report(receiving(5678, mib=60.0, deltas=3600))
    (line,) = transfer_lines(caplog_info)
    assert "5678/5678 objects, 60.0 MiB, resolving deltas 1200/3600" in line.getMessage()


def test_the_bar_waits_half_a_second_redraws_ten_times_a_second_and_is_cleared() -> None:
    screen = io.StringIO()
    time, bar = started(lambda clock: TransferBar(screen, clock, columns=lambda: 120))
    draws = []
    for tick in range(1, 21):  # every 50 ms for a second
        time.now = tick * 0.05
        before = screen.getvalue()
        bar(receiving(tick * 100, total=2000, mib=tick * 0.5))
        if screen.getvalue() != before:
            draws.append(round(time.now, 2))
    assert draws == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    bar(replace(receiving(2000, total=2000, mib=10.0), stage="done"))

    text = screen.getvalue()
    assert "\n" not in text  # one line, redrawn in place
    frames = text.split("\r")[1:]
    assert frames[0] == (
        f"cloning {REMOTE} [##########          ]  50% 1000/2000 objects, 5.0 MiB, 10.0 MiB/s"
    )
    assert frames[-1] == ""
    assert frames[-2].strip() == ""  # the bar is gone at the end
    assert len(frames[-2]) == max(len(f) for f in frames[:-2])


def test_a_short_fetch_never_draws_the_bar() -> None:
    screen = io.StringIO()
    time, bar = started(lambda clock: TransferBar(screen, clock, columns=lambda: 100))
    time.now = 0.3
    bar(receiving(3, total=3))
    bar(replace(receiving(3, total=3), stage="done"))
    assert screen.getvalue() == ""


def test_the_bar_fits_a_narrow_terminal_by_shortening_the_remote() -> None:
    long = parse_remote("https://git.example.com/" + "deep/" * 20 + "config.git").display
    line = bar_line(replace(receiving(1, total=4), remote=long), 2.0 * MIB, 79)
    assert len(line) == 79
    assert line.startswith("cloning …")
    assert "config.git [#####" in line
    assert line.endswith("25% 1/4 objects, 0 B, 2.0 MiB/s")


def test_credentials_given_apart_from_the_url_never_reach_the_output(
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime(0.0)
    screen = io.StringIO()
    reporters = [TransferLog(time.clock), TransferBar(screen, time.clock, columns=lambda: 200)]
    remote = parse_remote("ssh://git@git.example.com:2222/platform/config.git").display
    for report in reporters:
        report(Transfer("cloning", remote, "started"))
    time.now = 6.0
    for report in reporters:
        report(replace(receiving(5), remote=remote))
    shown = screen.getvalue() + "".join(r.getMessage() for r in transfer_lines(caplog_info))
    assert remote in shown
    # A URL with a password is refused before any transfer, so none can be displayed.
    with pytest.raises(Exception, match="carries credentials") as refused:
        parse_remote("https://bot:ghs_token@git.example.com/platform/config.git")
    assert "ghs_token" not in str(refused.value)


def test_a_terminal_gets_the_bar_unless_the_log_writes_info_lines_there(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    caplog.set_level(logging.WARNING, logger="reconciler.gitrepo")
    assert isinstance(for_stderr(Terminal()), TransferBar)  # plan, status, once, doctor
    assert isinstance(for_stderr(io.StringIO()), TransferLog)  # a pipe or a file
    caplog.set_level(logging.INFO, logger="reconciler.gitrepo")
    assert isinstance(for_stderr(Terminal()), TransferLog)  # `run` at a terminal


def test_sizes_in_binary_units() -> None:
    assert [size(n) for n in (0, 1023, 1024, 45.6 * MIB, 3 * 1024 * MIB)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "45.6 MiB",
        "3.0 GiB",
    ]


def test_the_stopwatch_adds_up_laps_of_one_phase_and_keeps_counts() -> None:
    time = FakeTime(0.0)
    phases = Stopwatch(time.clock)
    time.now = 12.1
    phases.lap("fetch")
    time.now = 12.9
    phases.lap("policy+overlays", 3000)
    time.now = 13.0
    phases.resume()  # time between phases counts in none
    time.now = 13.05
    phases.lap("plan")
    time.now = 13.1
    phases.lap("plan")
    assert phases.text() == "fetch 12.1s, policy+overlays (3000) 0.80s, plan 0.10s"
    assert phases.laps == {"fetch": 12.1, "policy+overlays": 0.8, "plan": 0.1}
    assert phases.counts == {"policy+overlays": 3000}
    phases.restart()
    assert (phases.text(), phases.counts) == ("", {})
