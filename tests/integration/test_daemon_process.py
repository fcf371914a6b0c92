"""A real daemon process and real signals: SIGTERM and SIGINT end it after its cycle, exit 0.

The child's cycle announces itself on stdout and then blocks reading a line from stdin, so
the test decides when the cycle may finish: the signal is sent while the cycle cannot have
finished, and the line is written only afterwards. The interval is an hour: a child that
ignored the signal would not exit before the test's timeout.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHILD = """
import signal
import sys
import threading
from datetime import timedelta

from reconciler.daemon import CycleStatus, Daemon, SocketWaiter, install_signal_handlers
from reconciler.logs import configure_logging

configure_logging("json", "INFO")
mode = sys.argv[1]


class AnnouncingWaiter(SocketWaiter):
    waiting = threading.Event()

    def wait(self, timeout):
        self.waiting.set()
        super().wait(timeout)


waiter = AnnouncingWaiter()


def signal_this_thread_once_the_loop_waits():
    assert waiter.waiting.wait(60)
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)


def cycle():
    print("cycle started", flush=True)
    line = "did not block"
    if mode == "block":
        line = sys.stdin.readline().strip()
    elif mode == "other-thread":
        threading.Thread(target=signal_this_thread_once_the_loop_waits, daemon=True).start()
    return CycleStatus(ok=True, policy_valid=True, summary=f"finished ({line})")


daemon = Daemon(cycle, interval=timedelta(hours=1), waiter=waiter)
install_signal_handlers(daemon)
sys.exit(daemon.run())
"""

GENEROUS = 60.0


def run_child(
    tmp_path: Path, root: Path, sig: signal.Signals | None, mode: str
) -> list[dict[str, Any]]:
    """Run the child in ``mode``, send ``sig`` once its cycle started; its JSON log lines."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), mode],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline() == "cycle started\n"
        if sig is not None:
            child.send_signal(sig)
        if mode == "block":
            child.stdin.write("released by the test\n")
            child.stdin.flush()
        _, err = child.communicate(timeout=GENEROUS)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    return [json.loads(line) for line in err.splitlines()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_a_cycle_lets_it_finish_then_exits_0(
    tmp_path: Path, root: Path, sig: signal.Signals
) -> None:
    log = run_child(tmp_path, root, sig, "block")
    events = [line.get("event") for line in log]
    assert events == ["started", "cycle", "stopped"]
    cycle, stopped = log[1], log[2]
    assert cycle["ok"] is True
    assert cycle["cycle"] == 1
    assert cycle["message"].startswith("cycle 1 (start) ok in ")
    assert cycle["message"].endswith(": finished (released by the test)")
    assert stopped["reason"] == sig.name
    assert stopped["cycles"] == 1
    for line in log:
        assert {"time", "level", "logger", "message"} <= set(line)


def test_a_signal_while_waiting_exits_0_at_once(tmp_path: Path, root: Path) -> None:
    log = run_child(tmp_path, root, signal.SIGTERM, "wait")
    assert [line.get("event") for line in log] == ["started", "cycle", "stopped"]
    assert log[2]["reason"] == "SIGTERM"


def test_a_signal_caught_by_another_thread_wakes_the_waiting_loop(
    tmp_path: Path, root: Path
) -> None:
    # The child sends SIGTERM to one of its own threads while the main thread waits in
    # select() for an hour: only the signal wakeup fd can end that wait.
    log = run_child(tmp_path, root, None, "other-thread")
    assert [line.get("event") for line in log] == ["started", "cycle", "stopped"]
    assert log[2]["reason"] == "SIGTERM"
