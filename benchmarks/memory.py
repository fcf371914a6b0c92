"""Resident memory of a daemon over many cycles: VmRSS from /proc/self/status.

    python -m benchmarks.memory [--apps 1000] [--cycles 100]

A daemon with the local forge on the settled repo runs ``cycles`` cycles; every tenth, a
person pins a new digest in one app's dev overlay upstream, so new commits, trees and
promotions pass through the caches. RSS is read after building and after chosen cycles;
"growth" is the second half's change. Target (issue 11): <= 150 MB after 100 cycles, and
not growing.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
from pathlib import Path

from benchmarks.common import line
from benchmarks.generate import app_name
from benchmarks.settled import Upstream, rss_mb, settled_remote
from reconciler.settings import Settings
from reconciler.wiring import build


def run(apps: int, cycles: int = 100) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        bare = settled_remote(work, apps)
        person = Upstream(bare, work / "person")
        gc.collect()
        start = rss_mb()
        reconciler = build(Settings(repo=str(bare), cache_dir=work / "cache")).runner
        samples: dict[int, float] = {0: rss_mb()}
        marks = {1, 2, cycles // 4, cycles // 2, 3 * cycles // 4, cycles}
        for n in range(1, cycles + 1):
            if n % 10 == 0:
                person.repin(app_name(n % apps))
            reconciler.cycle()
            if n in marks:
                samples[n] = rss_mb()
    final = samples[cycles]
    half = samples[cycles // 2]
    growth = final - half
    met = "met" if final <= 150 and growth <= 1 else "MISSED"
    out = [line(f"RSS before build ({apps} apps, harness)", f"{start:.0f} MB")]
    out += [line(f"RSS after {n} cycles", f"{mb:.0f} MB") for n, mb in sorted(samples.items())]
    out.append(
        line(
            f"RSS after {cycles} cycles vs target",
            f"{final:.0f} MB",
            f"target <= 150 MB and flat; {met}",
        )
    )
    out.append(line(f"RSS growth, cycle {cycles // 2} -> {cycles}", f"{growth:+.1f} MB"))
    return out


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=100)
    args = parser.parse_args()
    print("\n".join(run(args.apps, args.cycles)))


if __name__ == "__main__":
    main()
