"""Push to promoted, end to end: a real `reconciler run` process, a push, the time until the
promotion lands on main.

    python -m benchmarks.push_promoted [--apps 1000] [--repeat 3] [--interval 500ms]

A settled repo of N apps x 3 environments (a local bare repository, which the daemon
watches for changes), staging gated by an HTTP gate on dev (``successes = 2``, the given
``interval``) against loopback services in another process, staging auto-merged, the
policy's poll every 30 s (so nothing here waits for a poll). Each run pushes a new dev digest
for one app and measures, by the bare repository's main branch, the time until staging pins
it: the file change, the candidate's first probe in that cycle, its second an ``interval``
later, the request opened and merged. Before the pushes, the settled daemon is left alone
for ``--idle`` seconds and the probes it sends meanwhile are counted. Targets (issue 20):
<= 2 s at 1,000 apps; no probes while settled. (The services run in this process here, as
a counting http.server: the figures are the daemon's, in its own process.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import line, median_ms, stop
from benchmarks.generate import app_name
from benchmarks.probe_fanout import Healthy, ThreadedServices
from benchmarks.settled import Upstream, overlay_path, push, settled_remote
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo

TARGET_MS = 2000.0
GENEROUS = 120.0  # seconds: a run that takes longer is a failure, not a figure
DAEMON = (sys.executable, "-m", "reconciler", "run")
OPTIONS = ("--listen", "127.0.0.1:0", "--log-format", "json")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def gated(bare: Path, work: Path, port: int, interval: str) -> None:
    """Staging waits for two healthy samples of dev, ``interval`` apart."""

    def edit(view: ReadView) -> dict[str, bytes | None]:
        policy = (view.read("promotions.toml") or b"").decode()
        policy = policy.replace(
            "[environments.staging]\n", '[environments.staging]\ngates = ["health"]\n'
        )
        policy += (
            f'\n[gates.health]\nkind = "http"\nurl = "http://127.0.0.1:{port}'
            f'/{{env}}/{{app}}/healthz"\nsuccesses = 2\ninterval = "{interval}"\n'
        )
        return {"promotions.toml": policy.encode()}

    push(bare, work / "gate-clone", edit, "an HTTP gate on staging")


def settled_daemon(bare: Path, cache: Path) -> subprocess.Popen[str]:
    """A `reconciler run` process, once its first cycle has finished."""
    daemon = subprocess.Popen(
        [*DAEMON, "--repo", str(bare), "--cache-dir", str(cache), *OPTIONS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert daemon.stdout is not None
    for text in daemon.stdout:
        record = json.loads(text) if text.startswith("{") else {}
        if record.get("event") == "cycle":
            # Keep reading its log, or a full pipe would stop the daemon mid-line.
            threading.Thread(target=daemon.stdout.read, daemon=True).start()
            return daemon
    raise AssertionError("the daemon ended before its first cycle")


def staging_pin(reader: Pygit2ConfigRepo, app: str) -> str:
    """What staging pins for ``app`` on the remote's main, fetched now."""
    reader.fetch()
    tip = reader.tip("main")
    assert tip is not None
    data = reader.tree(tip).read(overlay_path(app, "staging")) or b""
    found = re.search(rb"sha256:[0-9a-f]{64}", data)
    return found.group(0).decode() if found else ""


def one_push(upstream: Upstream, reader: Pygit2ConfigRepo, app: str) -> float:
    """Seconds from the push of a new dev digest for ``app`` to staging pinning it."""
    started = time.perf_counter()
    new = upstream.repin(app)
    while staging_pin(reader, app) != new:
        if time.perf_counter() - started > GENEROUS:
            raise AssertionError(f"{app} did not reach staging within {GENEROUS}s")
        time.sleep(0.02)  # the measurement's own polling of the result, not the daemon's
    return time.perf_counter() - started


class Counted(Healthy):
    """A healthy service that counts the probes it answers."""

    answered = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with Counted.lock:
            Counted.answered += 1
        super().do_GET()


@dataclass(frozen=True)
class Pushed:
    """What ``measure`` found: probes while settled, and each push's seconds to staging."""

    idle_probes: int
    seconds: list[float]


def measure(
    bare: Path,
    work: Path,
    apps: int,
    repeat: int = 3,
    *,
    interval: str = "500ms",
    idle: float = 10.0,
) -> Pushed:
    """A daemon process on the settled remote ``bare`` of ``apps`` apps (gated here: pass a
    copy), work in ``work``: ``idle_probes`` it sent while left alone ``idle`` seconds, and
    ``seconds``, push -> staging promoted for each of ``repeat`` pushes."""
    services = ThreadedServices(("127.0.0.1", 0), Counted)
    threading.Thread(target=services.serve_forever, daemon=True).start()
    try:
        gated(bare, work, services.server_address[1], interval)
        daemon = settled_daemon(bare, work / "daemon-cache")
        try:
            before = Counted.answered
            time.sleep(idle)  # the settled daemon left alone: what it probes meanwhile
            idle_probes = Counted.answered - before
            upstream = Upstream(bare, work / "upstream")
            reader = Pygit2ConfigRepo.open(str(bare), work / "reader")
            seconds = [one_push(upstream, reader, app_name(n * 7 % apps)) for n in range(repeat)]
        finally:
            stop(daemon)
    finally:
        services.shutdown()
        services.server_close()
    return Pushed(idle_probes, seconds)


def run(apps: int, repeat: int = 3, interval: str = "500ms", idle: float = 10.0) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        f = measure(settled_remote(work, apps), work, apps, repeat, interval=interval, idle=idle)
    seconds, idle_probes = f.seconds, f.idle_probes
    ms = median_ms(seconds)
    spread = ", ".join(f"{s * 1000:.0f}" for s in seconds)
    verdict = "met" if ms <= TARGET_MS else "MISSED"
    return [
        line(
            f"probes sent by the settled daemon in {idle:.0f} s",
            f"{idle_probes}",
            f"{idle_probes * 60 / idle:.0f} a minute; target 0",
        ),
        line(
            f"push -> staging promoted ({apps} apps)",
            f"{ms:.0f} ms",
            f"median of {spread} ms; gate: 2 samples {interval} apart; target <= 2000 ms; "
            f"{verdict}",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--interval", default="500ms")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds left settled")
    args = parser.parse_args()
    for text in run(args.apps, args.repeat, args.interval, args.idle):
        print(text)


if __name__ == "__main__":
    main()
