"""Shared helpers for the benchmarks: timing, a generated repo, result lines."""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def served(bare: Path) -> Iterator[str]:
    """``bare`` served by `git daemon` on loopback, fetches and pushes, as a hosted remote is
    reached (libgit2's transport for a local path packs every object again: 4 s of a
    10,000-app clone that takes 0.8 s over git://); yields its git:// URL."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",  # the daemon pushes there too
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={bare.parent}",
            str(bare.parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # ready once it accepts a connection
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"git daemon did not start on port {port}") from None
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}/{bare.name}"
    finally:
        daemon.terminate()
        daemon.wait()
