"""Every benchmark in one run: `python -m benchmarks.run_all [--apps 1000] [--quick]`.

Figures go to docs/benchmarks.md by hand, with the date and the machine. ``--quick`` runs
fewer repeats and cycles (the memory run then has 20 cycles, not 100) so that a 1,000-app
run stays within a few minutes; ``--apps 100`` is quicker still.
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable
from datetime import timedelta

from benchmarks import (
    changed_overlay,
    cold_start,
    forge_requests,
    idle_cycle,
    memory,
    merge_cycle,
    open_requests,
    overlay_reads,
    probe_budget,
    probe_fanout,
    promotion_write,
    push_promoted,
    server_burst,
    status_view,
)

# Quick mode: 320 probes hanging 0.5s each against a 2s budget (a few seconds, not minutes).
QUICK_BUDGET = timedelta(seconds=2)


def main() -> None:
    """Run each benchmark and print its lines under a heading."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and cycles")
    args = parser.parse_args()
    apps, quick = args.apps, args.quick
    print(f"# {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    benchmarks: list[tuple[str, Callable[[], list[str]]]] = [
        ("overlay reads", lambda: overlay_reads.run(apps)),
        ("promotion write", lambda: promotion_write.run(apps, repeat=5 if quick else 10)),
        ("idle cycle", lambda: idle_cycle.run(apps, cycles=3 if quick else 10)),
        ("changed overlay", lambda: changed_overlay.run(apps, repeat=3 if quick else 10)),
        ("cold start", lambda: cold_start.run(apps, repeat=1 if quick else 3)),
        ("forge requests", lambda: forge_requests.run(apps, (1,) if quick else (1, 5))),
        ("probe fan-out", lambda: probe_fanout.run(apps, rounds=3 if quick else 5)),
        (
            "probe budget",
            lambda: probe_budget.run(320, 0.5, QUICK_BUDGET) if quick else probe_budget.run(),
        ),
        ("memory", lambda: memory.run(apps, cycles=20 if quick else 100)),
        ("server burst", lambda: server_burst.run(500 if quick else 2000)),
        # Quick: this tree alone (its baseline is an older commit, extracted and measured).
        ("merge cycle", lambda: merge_cycle.run((apps,), None if quick else merge_cycle.BASELINE)),
        ("status view", lambda: status_view.run(apps, repeat=1 if quick else 3)),
        (
            "open requests",
            lambda: open_requests.run(apps, min(apps, 10 if quick else 1000), 1 if quick else 3),
        ),
        (
            "push to promoted",
            lambda: push_promoted.run(apps, repeat=1 if quick else 5, idle=2 if quick else 65),
        ),
    ]
    for title, measure in benchmarks:
        print(f"\n## {title}", flush=True)
        print("\n".join(measure()), flush=True)


if __name__ == "__main__":
    main()
