"""Shared helpers for the benchmarks: timing, a generated repo, result lines."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.generate import generate


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` runs of ``action``."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        out.append(time.perf_counter() - start)
    return out


def median_ms(samples: list[float]) -> float:
    """The median of ``samples`` in milliseconds."""
    return statistics.median(samples) * 1000


def remote(work: Path, apps: int) -> Path:
    """A generated config repo of ``apps`` apps x 3 environments, as a bare remote."""
    return generate(work / "remote.git", apps)


def line(name: str, value: str, note: str = "") -> str:
    """One result line, aligned."""
    return f"{name:<44} {value:>14}  {note}".rstrip()


def stop(daemon: subprocess.Popen[str], grace: float = 60.0) -> float | None:
    """SIGTERM ``daemon`` and wait: the seconds it took to end, or None when it had not
    ended after ``grace`` seconds and was killed (said on stderr: a finding, not a figure)."""
    start = time.perf_counter()
    daemon.terminate()
    try:
        daemon.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
        print(
            f"WARNING: pid {daemon.pid} had not ended {grace:.0f} s after SIGTERM; killed",
            file=sys.stderr,
            flush=True,
        )
        return None
    return time.perf_counter() - start
