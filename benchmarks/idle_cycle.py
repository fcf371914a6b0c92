"""An idle cycle: nothing changed in the repo or on the forge since the last cycle.

    python -m benchmarks.idle_cycle [--apps 1000] [--cycles 20]

CPU is ``time.process_time()`` around ``cycle()`` with the local forge (the daemon runs
in-process; no other threads work then). Forge requests come from the GitHub simulator's
rate limit books over the same number of idle cycles against it. Targets (issue 11):
<= 20 ms CPU and 0 requests counted against the rate limit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import line
from benchmarks.forge_sim import github
from benchmarks.settled import settled_remote
from reconciler.cycle import CycleRunner
from reconciler.settings import Settings
from reconciler.wiring import build

WARM = 2  # cycles before measuring: the first one after start reads and parses everything


def idle_cycles(reconciler: CycleRunner, cycles: int) -> tuple[list[float], list[float]]:
    """CPU and wall seconds of ``cycles`` cycles; each must find nothing to do."""
    cpu, wall = [], []
    for _ in range(cycles):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        result = reconciler.cycle()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
        assert not result.outcomes, f"not idle: {result.summary()}"
    return cpu, wall


def measure(bare: Path, work: Path, cycles: int = 20) -> dict[str, float]:
    """Idle cycles on the settled remote ``bare`` (the GitHub simulator serves it; pass a
    copy), caches in ``work``: CPU and wall in ms with the local forge (``cpu`` median,
    ``cpu_max``, ``wall``), ``gh_cpu`` against the simulator, and its requests per cycle
    (``spent``: counted against the rate limit; ``served``: all, 304s included)."""
    reconciler = build(Settings(repo=str(bare), cache_dir=work / "cache")).runner
    idle_cycles(reconciler, WARM)
    cpu, wall = idle_cycles(reconciler, cycles)

    with github(bare, work) as forge:
        gh = forge.wire().runner
        idle_cycles(gh, WARM)
        spent, served = forge.spent(), sum(forge.served().values())
        gh_cpu, _ = idle_cycles(gh, cycles)
        spent = forge.spent() - spent
        served = sum(forge.served().values()) - served
    return {
        "cpu": statistics.median(cpu) * 1000,
        "cpu_max": max(cpu) * 1000,
        "wall": statistics.median(wall) * 1000,
        "gh_cpu": statistics.median(gh_cpu) * 1000,
        "spent": spent / cycles,
        "served": served / cycles,
    }


def run(apps: int, cycles: int = 20) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        f = measure(settled_remote(work, apps), work, cycles)
    ms = f["cpu"]
    met = "met" if ms <= 20 else "MISSED"
    return [
        line(f"idle cycle CPU, local forge ({apps} apps)", f"{ms:.1f} ms", f"median; {met}"),
        line("idle cycle CPU, max", f"{f['cpu_max']:.1f} ms", f"over {cycles} cycles"),
        line("idle cycle wall, local forge", f"{f['wall']:.1f} ms", "median"),
        line(
            "idle cycle CPU, GitHub sim (sim in-process)",
            f"{f['gh_cpu']:.1f} ms",
            "median; includes the simulator's own CPU",
        ),
        line(
            "idle cycle forge requests, rate-limited",
            f"{f['spent']:g}/cycle",
            f"target 0; {'met' if f['spent'] == 0 else 'MISSED'}",
        ),
        line("idle cycle forge requests, all served", f"{f['served']:g}/cycle", "incl. 304s"),
    ]


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    print("\n".join(run(args.apps, args.cycles)))


if __name__ == "__main__":
    main()
