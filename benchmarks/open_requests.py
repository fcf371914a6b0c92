"""`status` and a restart beside many open requests: what the kept heads save.

    python -m benchmarks.open_requests [--apps 1000] [--open 1000] [--repeat 3]

The settled repo of N apps; one push gives ``--open`` apps a new digest in dev and staging
(a release wave), and one `reconciler once` opens a prod request for each (prod waits for
a code owner, so they stay open). Then, whole processes on that cache folder, as beside a
running daemon:

- baseline, `status -o json` with nothing kept (heads.json and landings.json removed, as
  on a new cache folder or before they were kept): each head is proven again (the pin
  edit made again) and compared with its parent;
- `status -o json` with what the run before kept (median);
- a restart: `reconciler once` on the same cache folder (median), nothing to do.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import line
from benchmarks.generate import app_name, digest
from benchmarks.settled import overlay_path, push, settled_remote
from benchmarks.status_view import ENV, EXE
from reconciler import provenance
from reconciler.forge import landing
from reconciler.gitrepo.port import ReadView

TARGET_MS = 1000.0


def wave(bare: Path, clone: Path, apps: int, count: int) -> None:
    """One commit giving the last ``count`` apps a new digest in dev and staging."""

    def edit(view: ReadView) -> dict[str, bytes | None]:
        changes: dict[str, bytes | None] = {}
        for n in range(count):
            app = app_name(apps - 1 - n)
            for env in ("dev", "staging"):
                path = overlay_path(app, env)
                data = view.read(path)
                assert data is not None
                old = data.split(b"sha256:", 1)[1][:64].decode()
                changes[path] = data.replace(old.encode(), digest(f"wave-{app}")[7:].encode())
        return changes

    push(bare, clone, edit, f"release wave: {count} apps")


def _process(verb: str, bare: Path, cache: Path, *extra: str) -> tuple[float, str]:
    """Seconds of one whole `reconciler VERB` process on ``cache``, and what it printed."""
    start = time.perf_counter()
    done = subprocess.run(
        [*EXE, verb, "--repo", str(bare), "--cache-dir", str(cache), *extra],
        check=True,
        capture_output=True,
        text=True,
        env=ENV,
    )
    return time.perf_counter() - start, done.stdout


def _requested(status: str) -> int:
    """How many prod rows of a `status -o json` document have a request."""
    rows = json.loads(status)["rows"]
    return sum(1 for row in rows if row["env"] == "prod" and row["request"])


def measure(bare: Path, work: Path, apps: int, count: int, repeat: int = 3) -> dict[str, float]:
    """Milliseconds on the settled remote ``bare`` (pushed to: pass a copy): ``opening``
    (the `once` that opens the requests), ``cold`` (`status`, nothing kept), ``status``
    and ``restart`` (medians with what was kept), and ``open`` (how many requests)."""
    wave(bare, work / "person", apps, count)
    cache = work / "cache"
    opening, _ = _process("once", bare, cache)
    cold = []
    for _ in range(repeat):
        for name in (provenance.FILE, landing.FILE):
            (cache / name).unlink(missing_ok=True)
        cold.append(_process("status", bare, cache, "-o", "json")[0])
    kept = [_process("status", bare, cache, "-o", "json") for _ in range(repeat)]
    restart = [_process("once", bare, cache)[0] for _ in range(repeat)]
    return {
        "opening": opening * 1000,
        "cold": statistics.median(cold) * 1000,
        "status": statistics.median(s for s, _ in kept) * 1000,
        "restart": statistics.median(restart) * 1000,
        "open": float(_requested(kept[-1][1])),
    }


def run(apps: int, count: int, repeat: int = 3) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        f = measure(settled_remote(work, apps), work, apps, count, repeat)
    base = f["cold"]
    return [
        line(f"open prod requests ({apps:,} apps)", f"{f['open']:.0f}"),
        line("the once that opened them", f"{f['opening']:.0f} ms"),
        line("status, nothing kept, baseline", f"{base:.0f} ms", "median"),
        line("status, heads kept", f"{f['status']:.0f} ms", f"median; {base / f['status']:.1f}x"),
        line("restart (once), heads kept", f"{f['restart']:.0f} ms", "median"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for text in run(args.apps, args.open, args.repeat):
        print(text)


if __name__ == "__main__":
    main()
