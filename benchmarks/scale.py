"""Issue 20's measures at several sizes in one run, side by side, with the growth factor.

    python -m benchmarks.scale [--sizes 1000,10000] [--quick] [--keep DIR] [--only cold,...]

For each size (apps x 3 environments) the remotes are generated once (the settled one of
``settled.py``, and the plain generated one, every environment on another digest, for
`status`), both packed as a hosted remote keeps them; each measure then runs on its own
copy (``shutil.copytree``), in a fresh interpreter (a spawned process, so one measure's
caches, threads and memory do not weigh on the next; RSS is that process's own). Each
measure runs at every size before the next measure starts, so the sizes of one row are
taken minutes apart. ``--keep DIR`` keeps the generated remotes in DIR and reuses them on
the next run (generation at 10,000 apps takes minutes); ``--quick`` runs few repeats and
cycles, for CI.

Printed: one Markdown table, a column per size, the growth factor (last size / first), and
each issue 20 target judged at the last size (met / MISSED); then the spread behind some
figures, and when each measure ran (UTC), to tell which ran beside other work.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import (
    changed_overlay,
    cold_start,
    forge_requests,
    idle_cycle,
    memory,
    open_requests,
    push_promoted,
    status_view,
)
from benchmarks.common import remote
from benchmarks.settled import packed, settled_remote

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Repeats:
    """How many runs, cycles and promotions each measure takes."""

    cold: int
    idle_cycles: int
    changed: int
    memory_cycles: int
    open_requests: int
    wave: int  # prod requests opened at once, for `status` beside them
    push: int
    push_idle: float
    status: int
    promotions: tuple[int, ...]


FULL = Repeats(
    cold=3,
    idle_cycles=20,
    changed=10,
    memory_cycles=400,
    open_requests=10,
    wave=1000,
    push=5,
    push_idle=65.0,
    status=3,
    promotions=(1, 5),
)
QUICK = Repeats(
    cold=1,
    idle_cycles=3,
    changed=3,
    memory_cycles=20,
    open_requests=2,
    wave=20,
    push=1,
    push_idle=2.0,
    status=1,
    promotions=(1,),
)


@dataclass(frozen=True)
class Remotes:
    """One size's generated remotes, packed: settled, and plain (for `status`)."""

    settled: Path
    plain: Path


def prepare(folder: Path, apps: int) -> Remotes:
    """Generate the remotes of ``apps`` apps in ``folder``, or reuse the ones there."""
    settled, plain = folder / "settled" / "remote.git", folder / "plain" / "remote.git"
    ready = folder / "ready"
    if ready.exists():
        return Remotes(settled, plain)
    for stale in (settled.parent, plain.parent):
        shutil.rmtree(stale, ignore_errors=True)
        stale.mkdir(parents=True)
    settled_remote(settled.parent, apps)
    packed(remote(plain.parent, apps))
    ready.write_text(f"{apps} apps\n")
    return Remotes(settled, plain)


def fresh(source: Path, work: Path) -> Path:
    """An empty ``work`` folder holding a copy of the remote ``source``."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return Path(shutil.copytree(source, work / "remote.git"))


def isolated(measure: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``measure(*args, **kwargs)`` in a fresh interpreter (a spawned process)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(measure, *args, **kwargs).result()


@dataclass
class Row:
    """One measure: a value per size, issue 20's target and how the last size is judged."""

    name: str
    unit: str
    digits: int = 0
    target: str = ""
    judge: Callable[[float, float | None], bool] | None = None  # (last value, growth)
    values: list[float | None] = field(default_factory=list)

    def cell(self, value: float | None) -> str:
        if value is None:
            return "(not measured)"
        return f"{value:,.{self.digits}f}{self.unit}"

    def growth(self) -> float | None:
        if len(self.values) < 2:
            return None
        first, last = self.values[0], self.values[-1]
        if first is None or last is None or first == 0:
            return None
        return last / first

    def verdict(self, sizes: int) -> str:
        if self.judge is None:
            return ""
        last = self.values[-1] if len(self.values) == sizes else None
        if last is None:
            return "not measured"
        return "met" if self.judge(last, self.growth()) else "**MISSED**"


def at_most(limit: float) -> Callable[[float, float | None], bool]:
    """Met when the last size's value is at most ``limit``."""
    return lambda value, _growth: value <= limit


def flat(limit: float, growth: float) -> Callable[[float, float | None], bool]:
    """Met when at most ``limit`` and grown no more than ``growth`` times from the first size
    (a single size is judged on the limit alone)."""
    return lambda value, grown: value <= limit and (grown is None or grown <= growth)


@dataclass
class Scale:
    """The rows, in the order printed, filled one size at a time."""

    sizes: list[int]
    repeats: Repeats
    rows: dict[str, Row] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)

    def row(self, key: str, name: str, unit: str, digits: int = 0, **judged: Any) -> None:
        self.rows[key] = Row(name, unit, digits, **judged)

    def put(self, key: str, value: float | None) -> None:
        self.rows[key].values.append(value)


def define(scale: Scale) -> None:
    """Every row of the table, before any figure."""
    r = scale.repeats
    cycles, half = r.memory_cycles, r.memory_cycles // 2
    row = scale.row
    row(
        "cold",
        f"cold start to first plan, build + plan in-process (median of {r.cold}; "
        "remote through git daemon)",
        " ms",
        target="<= 5 s",
        judge=at_most(5000),
    )
    row(
        "process",
        "cold start, a whole `reconciler plan` process (git daemon)",
        " ms",
        target="<= 5 s",
        judge=at_most(5000),
    )
    row("restart", "restart on the clone already on disk, to first plan (git daemon)", " ms")
    row("cold_local", "cold start in-process, the remote by its path (local transport)", " ms")
    row(
        "idle_cpu",
        f"idle cycle CPU, local forge (median of {r.idle_cycles})",
        " ms",
        1,
        target="<= 5 ms, flat (<= 1.5x)",
        judge=flat(5, 1.5),
    )
    row("idle_max", "idle cycle CPU, max", " ms", 1)
    row("idle_wall", "idle cycle wall, local forge (median; fetch included)", " ms", 1)
    row(
        "idle_spent",
        "idle cycle forge requests against the rate limit (GitHub sim)",
        "/cycle",
        1,
        target="0",
        judge=at_most(0),
    )
    row("idle_served", "idle cycle forge requests answered, 304s included", "/cycle", 1)
    row(
        "changed",
        f"changed overlay -> plan ready, wall (median of {r.changed}; git daemon)",
        " ms",
        1,
        target="<= 50 ms",
        judge=at_most(50),
    )
    row("changed_fetch", "of which the fetch (git://)", " ms", 1)
    row("changed_after", "of which fetched -> plan ready", " ms", 1)
    row("changed_max", "changed overlay -> plan ready, max", " ms", 1)
    row("changed_local", "changed overlay -> plan ready, the remote by its path", " ms", 1)
    row("changed_local_fetch", "of which the fetch (libgit2 local transport)", " ms", 1)
    row(
        "changed_history",
        f"changed overlay -> plan ready, {changed_overlay.HISTORY} commits of history first "
        "(git daemon)",
        " ms",
        1,
        target="<= 50 ms",
        judge=at_most(50),
    )
    row("changed_history_fetch", "of which the fetch (two negotiation rounds)", " ms", 1)
    row("changed_history_after", "of which fetched -> plan ready", " ms", 1)
    row(
        "probes",
        f"probes sent by the settled daemon in {r.push_idle:.0f} s",
        "",
        target="0",
        judge=at_most(0),
    )
    row(
        "push",
        f"push -> staging promoted, daemon process (median of {r.push})",
        " ms",
        target="<= 2 s",
        judge=at_most(2000),
    )
    row("push_max", "push -> staging promoted, max", " ms")
    row("rss_harness", "RSS before building (the measuring process itself; git daemon)", " MB")
    row("rss_built", "RSS after building", " MB")
    row("rss_half", f"RSS after {half} cycles", " MB", target="<= 250 MB", judge=at_most(250))
    row("rss_end", f"RSS after {cycles} cycles", " MB", target="<= 250 MB", judge=at_most(250))
    row(
        "rss_growth",
        f"RSS growth, cycle {half} -> {cycles}",
        " MB",
        1,
        target="flat (<= 2 MB)",
        judge=at_most(2),
    )
    row("rss_growth_own", "of which anonymous memory (VmRSS - RssFile)", " MB", 1)
    row("rss_growth_files", "of which mapped files (RssFile: the fetched packs)", " MB", 1)
    row("packs_half", f"pack files in the clone after {half} cycles", "")
    row("packs_end", f"pack files in the clone after {cycles} cycles", "")
    row("open_prod", f"open prod requests after {cycles} cycles", "")
    row(
        "rss_steady_end",
        f"RSS after {cycles} cycles, steady: as many requests open throughout, rebuilt",
        " MB",
        target="<= 250 MB",
        judge=at_most(250),
    )
    row(
        "rss_steady_growth",
        f"RSS growth, steady, cycle {half} -> {cycles}",
        " MB",
        1,
        target="flat (<= 2 MB)",
        judge=at_most(2),
    )
    row("rss_steady_own", "of which anonymous memory (VmRSS - RssFile)", " MB", 1)
    row("rss_steady_files", "of which mapped files (RssFile: the fetched packs)", " MB", 1)
    row("open_steady", f"open prod requests after {cycles} cycles, steady", "")
    row(
        "status",
        f"`status`, whole process (median of {r.status})",
        " ms",
        target="<= 1 s",
        judge=at_most(1000),
    )
    row(
        "status_daemon",
        "`status --daemon URL`, whole process",
        " ms",
        target="<= 1 s",
        judge=at_most(1000),
    )
    row("status_serve", "the daemon building and encoding GET /status", " ms", 1)
    row("wave_open", "open prod requests after a release wave", "")
    row("wave_cold", "`status` beside them, nothing kept (a new cache folder)", " ms")
    row(
        "wave_status",
        f"`status` beside them, heads kept (median of {r.status})",
        " ms",
        target="<= 1 s",
        judge=at_most(1000),
    )
    row("wave_restart", f"restart (`once`) beside them (median of {r.status})", " ms")
    row(
        "forge_idle",
        "forge requests of an idle cycle (GitHub sim)",
        "",
        target="0",
        judge=at_most(0),
    )
    for later in (False, True):
        for size in r.promotions:
            how = ", owners asked after the create answer" if later else ""
            row(
                f"forge_{size}_{later}",
                f"forge requests per promotion, {size} in a cycle{how}",
                "",
                1,
                target="<= 3",
                judge=at_most(3),
            )


def stamp() -> str:
    """Now, UTC, to the second."""
    return datetime.now(UTC).strftime("%H:%M:%S")


def _cold(scale: Scale, apps: int, remotes: Remotes, folder: Path) -> None:
    bare = fresh(remotes.settled, folder)
    f = isolated(cold_start.measure, bare, folder / "served", scale.repeats.cold, serve=True)
    for key in ("cold", "process", "restart"):
        scale.put(key, f[key])
    f = isolated(cold_start.measure, bare, folder / "local", 1)
    scale.put("cold_local", f["cold"])


def _idle(scale: Scale, apps: int, remotes: Remotes, folder: Path) -> None:
    bare = fresh(remotes.settled, folder)
    f = isolated(idle_cycle.measure, bare, folder, scale.repeats.idle_cycles)
    for key, name in (("cpu", "idle_cpu"), ("cpu_max", "idle_max"), ("wall", "idle_wall")):
        scale.put(name, f[key])
    scale.put("idle_spent", f["spent"])
    scale.put("idle_served", f["served"])


def _changed(scale: Scale, apps: int, remotes: Remotes, folder: Path) -> None:
    bare = fresh(remotes.settled, folder)
    f = isolated(changed_overlay.measure, bare, folder, apps, scale.repeats.changed, serve=True)
    scale.put("changed", f["wall"])
    scale.put("changed_fetch", f["fetch"])
    scale.put("changed_after", f["after"])
    scale.put("changed_max", f["wall_max"])
    local = fresh(remotes.settled, folder / "local")
    f = isolated(changed_overlay.measure, local, folder / "local", apps, scale.repeats.changed)
    scale.put("changed_local", f["wall"])
    scale.put("changed_local_fetch", f["fetch"])
    aged = fresh(remotes.settled, folder / "history")
    f = isolated(
        changed_overlay.measure,
        aged,
        folder / "history",
        apps,
        scale.repeats.changed,
        serve=True,
        history=changed_overlay.HISTORY,
    )
    scale.put("changed_history", f["wall"])
    scale.put("changed_history_fetch", f["fetch"])
    scale.put("changed_history_after", f["after"])


def _push(scale: Scale, apps: int, remotes: Remotes, folder: Path) -> None:
    r = scale.repeats
    bare = fresh(remotes.settled, folder)
    f = isolated(
        push_promoted.measure, bare, folder, apps, r.push, interval="500ms", idle=r.push_idle
    )
    scale.put("probes", f.idle_probes)
    scale.put("push", statistics.median(f.seconds) * 1000)
    scale.put("push_max", max(f.seconds) * 1000)
    runs = " / ".join(f"{s * 1000:,.0f}" for s in f.seconds)
    scale.details.append(f"push -> staging promoted at {apps:,} apps, each run: {runs} ms")


def _memory(scale: Scale, apps: int, remotes: Remotes, folder: Path) -> None:
    r = scale.repeats
    bare = fresh(remotes.settled, folder)
    cycles, half = r.memory_cycles, r.memory_cycles // 2
    f = isolated(memory.measure, bare, folder, apps, cycles, r.open_requests, serve=True)
    scale.put("rss_harness", f.start)
    scale.put("rss_built", f.samples[0])
    scale.put("rss_half", f.samples[half])
    scale.put("rss_end", f.samples[cycles])
    scale.put("rss_growth", f.samples[cycles] - f.samples[half])
    scale.put("rss_growth_files", f.files[cycles] - f.files[half])
    scale.put("rss_growth_own", f.own(cycles) - f.own(half))
    scale.put("packs_half", f.packs[half])
    scale.put("packs_end", f.packs[cycles])
    scale.put("open_prod", f.open_prod[cycles])
    marks = ", ".join(
        f"{n}: {mb:.0f} ({f.files[n]:.0f} mapped files)" for n, mb in sorted(f.samples.items())
    )
    opened = ", ".join(f"{n}: {k}" for n, k in sorted(f.open_prod.items()))
    scale.details.append(
        f"RSS at {apps:,} apps after cycle N (MB): {marks}; open prod requests: {opened}"
    )
    f = isolated(
        memory.measure,
        fresh(remotes.settled, folder / "steady"),
        folder / "steady",
        apps,
        cycles,
        r.open_requests * 5,
        serve=True,
        steady=True,
    )
    scale.put("rss_steady_end", f.samples[cycles])
    scale.put("rss_steady_growth", f.samples[cycles] - f.samples[half])
    scale.put("rss_steady_files", f.files[cycles] - f.files[half])
    scale.put("rss_steady_own", f.own(cycles) - f.own(half))
    scale.put("open_steady", f.open_prod[cycles])
    marks = ", ".join(
        f"{n}: {mb:.0f} ({f.files[n]:.0f} mapped files, {f.packs[n]} packs)"
        for n, mb in sorted(f.samples.items())
    )
    opened = ", ".join(f"{n}: {k}" for n, k in sorted(f.open_prod.items()))
    scale.details.append(
        f"RSS at {apps:,} apps, steady (the same requests rebuilt), after cycle N (MB): "
        f"{marks}; open prod requests: {opened}"
    )


def _status(scale: Scale, apps: int, remotes: Remotes, folder: Path) -> None:
    bare = fresh(remotes.plain, folder)
    f = isolated(
        status_view.measure, bare, folder, scale.repeats.status, baseline=False, interval="1h"
    )
    scale.put("status", f["plain"])
    scale.put("status_daemon", f["daemon"])
    scale.put("status_serve", f["serve"])


def _wave(scale: Scale, apps: int, remotes: Remotes, folder: Path) -> None:
    bare = fresh(remotes.settled, folder)
    count = min(scale.repeats.wave, apps)
    f = isolated(open_requests.measure, bare, folder, apps, count, scale.repeats.status)
    for key in ("open", "cold", "status", "restart"):
        scale.put(f"wave_{key}", f[key])
    scale.details.append(
        f"release wave at {apps:,} apps: one `once` opened {f['open']:.0f} prod requests "
        f"in {f['opening'] / 1000:.1f} s"
    )


def _forge(scale: Scale, apps: int, remotes: Remotes, folder: Path) -> None:
    bare = fresh(remotes.settled, folder)
    sizes = scale.repeats.promotions
    idle_cost, found = isolated(forge_requests.measure, bare, folder, apps, sizes)
    scale.put("forge_idle", idle_cost)
    for promoted in found:
        scale.put(f"forge_{promoted.size}_{promoted.later}", promoted.per)
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(promoted.ops.items()))
        later = ", owners asked later" if promoted.later else ""
        scale.details.append(
            f"forge requests at {apps:,} apps, {promoted.size} promotion(s){later}: "
            f"{promoted.total} (of which {promoted.polls} the per-cycle poll of open "
            f"pulls): {ops}"
        )


Step = Callable[[Scale, int, Remotes, Path], None]
STEPS: dict[str, tuple[str, Step]] = {
    "cold": ("cold start", _cold),
    "idle": ("idle cycle", _idle),
    "changed": ("changed overlay", _changed),
    "push": ("push -> promoted", _push),
    "memory": ("memory", _memory),
    "status": ("status", _status),
    "wave": ("status beside open requests", _wave),
    "forge": ("forge requests", _forge),
}


def measures(scale: Scale, remotes: dict[int, Remotes], work: Path, only: tuple[str, ...]) -> None:
    """Run each measure (of ``only``) at every size, filling the rows; after each, the
    table so far goes to stderr."""
    for key, (title, body) in STEPS.items():
        if key not in only:
            continue
        for apps in scale.sizes:
            start = stamp()
            print(f"{start} {title}, {apps:,} apps ...", file=sys.stderr, flush=True)
            folder = work / f"{key}-{apps}"
            body(scale, apps, remotes[apps], folder)
            shutil.rmtree(folder, ignore_errors=True)
            scale.ran.append(f"{title}, {apps:,} apps: {start}-{stamp()} UTC")
            print("\n".join(table(scale)), file=sys.stderr, flush=True)


def table(scale: Scale) -> list[str]:
    """The Markdown table."""
    last = f"{scale.sizes[-1]:,}"
    head = ["", *(f"{apps:,} apps" for apps in scale.sizes)]
    if len(scale.sizes) > 1:
        head.append("growth (last / first)")
    head += [f"target at {last} (issue 20)", f"at {last}"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in scale.rows.values():
        values = row.values + [None] * (len(scale.sizes) - len(row.values))
        cells = [row.name, *(row.cell(v) for v in values)]
        if len(scale.sizes) > 1:
            grown = row.growth() if len(row.values) == len(scale.sizes) else None
            cells.append(f"{grown:.1f}x" if grown is not None else "")
        cells += [row.target, row.verdict(len(scale.sizes))]
        out.append("| " + " | ".join(cells) + " |")
    return out


def commit() -> str:
    """The commit measured, and whether the reconciler package differs from it."""
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "reconciler"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head or 'unknown'}{' (reconciler/ has uncommitted changes)' if dirty else ''}"


def run(
    sizes: list[int],
    repeats: Repeats,
    keep: Path | None = None,
    only: tuple[str, ...] = tuple(STEPS),
) -> list[str]:
    """Generate, measure, and return the printed lines."""
    scale = Scale(sizes, repeats)
    define(scale)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        remotes = {}
        for apps in sizes:
            print(f"{stamp()} generating {apps:,} apps ...", file=sys.stderr, flush=True)
            remotes[apps] = prepare((keep or work / "remotes") / str(apps), apps)
        measured = datetime.now(UTC)
        measures(scale, remotes, work / "runs", only)
    ended = datetime.now(UTC)
    return [
        f"# scale: {', '.join(f'{n:,}' for n in sizes)} apps x 3 environments; commit "
        f"{commit()}; {platform.node()} {platform.machine()}, {multiprocessing.cpu_count()} "
        f"cores, Python {platform.python_version()}; started {started:%Y-%m-%d %H:%M}, "
        f"measured {measured:%H:%M}-{ended:%H:%M} UTC",
        "",
        *table(scale),
        "",
        *scale.details,
        "",
        "When each measure ran:",
        *(f"- {ran}" for ran in scale.ran),
    ]


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated app counts")
    parser.add_argument("--quick", action="store_true", help="few repeats and cycles (CI)")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the generated remotes here")
    parser.add_argument(
        "--only", default=",".join(STEPS), help=f"comma-separated, of {','.join(STEPS)}"
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    only = tuple(args.only.split(","))
    unknown = set(only) - set(STEPS)
    if unknown:
        parser.error(f"unknown measures: {', '.join(sorted(unknown))}")
    print("\n".join(run(sizes, QUICK if args.quick else FULL, args.keep, only)), flush=True)


if __name__ == "__main__":
    main()
