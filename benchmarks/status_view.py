"""`reconciler status` at N apps, as a user runs it: with HTTP gates, beside a daemon or not.

    python -m benchmarks.status_view [--apps 1000] [--repeat 3]

A generated repo of N apps x 3 environments whose staging and prod edges have an HTTP gate
(``successes = 2``) against loopback services in another process (probe_fanout's
event-loop server). Each figure is a whole `reconciler status -o json` process on a warm
cache folder (the clone is on disk, as beside a running daemon), wall clock:

- baseline, `status --probe`: samples every gate with a candidate inline, as `status`
  did before issue 19 (the generated repo pins another digest in each environment, so
  every staging and prod edge has one: the busiest case; two rounds, the gate's interval
  apart);
- `status`: the view from git and the live sources, no samples;
- `status --daemon URL`: a running `reconciler run` serves its last cycle's view.

Also the daemon's side: building and encoding the view of GET /status in-process.
Target (issue 19): under 1 s at 1,000 apps, either way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import line, median_ms, remote, stop, timed
from benchmarks.probe_fanout import start_services
from benchmarks.settled import push
from reconciler import overview
from reconciler.clock import utc_now
from reconciler.gitrepo.port import ReadView
from reconciler.settings import Settings
from reconciler.wiring import build

EXE = [sys.executable, "-m", "reconciler"]
# As installed: bytecode is cached (a sandbox that sets PYTHONDONTWRITEBYTECODE would
# measure compiling every module at each start, which no installed copy does).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TARGET_MS = 1000.0
DAEMON_OPTIONS = ("--listen", "127.0.0.1:0", "--log-format", "json")


def gated(bare: Path, work: Path, port: int, interval: str = "1s") -> None:
    """Give staging and prod an HTTP gate on the loopback services, two samples
    ``interval`` apart."""

    def edit(view: ReadView) -> dict[str, bytes | None]:
        policy = (view.read("promotions.toml") or b"").decode()
        for env in ("staging", "prod"):
            policy = policy.replace(
                f"[environments.{env}]\n", f'[environments.{env}]\ngates = ["health"]\n'
            )
        policy += (
            f'\n[gates.health]\nkind = "http"\nurl = "http://127.0.0.1:{port}'
            '/{env}/{app}/healthz"\nsuccesses = 2\n'
            f'interval = "{interval}"\n'
        )
        return {"promotions.toml": policy.encode()}

    push(bare, work / "gate-clone", edit, "an HTTP gate on staging and prod")


def status_process(bare: Path, cache: Path, *extra: str) -> float:
    """Seconds of one whole `reconciler status -o json` process."""
    start = time.perf_counter()
    subprocess.run(
        [*EXE, "status", "--repo", str(bare), "--cache-dir", str(cache), "-o", "json", *extra],
        check=True,
        capture_output=True,
        env=ENV,
    )
    return time.perf_counter() - start


def running_daemon(bare: Path, cache: Path) -> tuple[subprocess.Popen[str], str]:
    """A `reconciler run` process and its address, once its first cycle has a view."""
    daemon = subprocess.Popen(
        [*EXE, "run", "--repo", str(bare), "--cache-dir", str(cache), *DAEMON_OPTIONS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert daemon.stdout is not None
    address = ""
    for text in daemon.stdout:
        found = re.search(r"on http://(\S+) \(cache", text)
        address = found.group(1) if found else address
        if address and "commit=" in text:  # the first cycle's line: its view is published
            return daemon, address
    raise AssertionError("the daemon ended before its first cycle")


def measure(
    bare: Path, work: Path, repeat: int = 3, *, baseline: bool = True, interval: str = "1s"
) -> dict[str, float]:
    """Median milliseconds on the generated (unsettled) remote ``bare`` (gated here: pass a
    copy), caches in ``work``: ``plain`` (`status`), ``daemon`` (`status --daemon URL`),
    ``serve`` (the daemon building and encoding its view) and, with ``baseline``, ``probed``
    (`status --probe`).

    The gates' ``interval`` is also how long after its first cycle the daemon takes a
    second sample of each candidate and opens every request (20,000 at 10,000 apps); with
    "1s" that runs while `status --daemon` is timed, a long one leaves the daemon settled.
    """
    port, stop_services = start_services("event-loop")
    try:
        gated(bare, work, port, interval)
        warm = work / "cli-cache"
        status_process(bare, warm)  # the clone, made once
        probed = [status_process(bare, warm, "--probe") for _ in range(repeat if baseline else 0)]
        plain = [status_process(bare, warm) for _ in range(repeat)]
        daemon, address = running_daemon(bare, work / "daemon-cache")
        try:
            asked = [status_process(bare, warm, "--daemon", address) for _ in range(repeat)]
        finally:
            stop(daemon)
        # One round of samples, as a daemon's cycle takes (a one-shot plan would wait the
        # gates' interval for a second round).
        runner = build(Settings(repo=str(bare), cache_dir=warm)).runner
        result = runner.plan_only(one_shot=False)
        assert result.observation.policy is not None
        latest = overview.Latest()
        latest.publish(result.observation.policy, result.observation.snapshot, result.plan)
        serve = timed(lambda: json.dumps(latest.document(utc_now())), repeat * 3)
    finally:
        stop_services()
    figures = {"plain": median_ms(plain), "daemon": median_ms(asked), "serve": median_ms(serve)}
    if probed:
        figures["probed"] = median_ms(probed)
    return figures


def run(apps: int, repeat: int = 3) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        f = measure(remote(work, apps), work, repeat)
    base = f["probed"]
    lines = [line(f"status --probe, baseline ({apps} apps)", f"{base:.0f} ms", "median")]
    for name, ms in (("status (no samples)", f["plain"]), ("status --daemon URL", f["daemon"])):
        verdict = "met" if ms <= TARGET_MS else "MISSED"
        lines.append(
            line(name, f"{ms:.0f} ms", f"median; {base / ms:.1f}x; target <= 1000 ms; {verdict}")
        )
    lines.append(line("daemon: build + encode GET /status", f"{f['serve']:.1f} ms", "median"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for text in run(args.apps, args.repeat):
        print(text)


if __name__ == "__main__":
    main()
