"""Many merges in one cycle, with the local forge: N approved requests merged by one cycle.

    python -m benchmarks.merge_cycle [--sizes 250,1000,2000] [--baseline REV|none] [--after REV]

On a settled repo of N apps (benchmarks/settled.py), a person pins a new digest in every
app's dev overlay in one commit; the daemon's next cycle opens N staging requests (staging
merges automatically and has no code owners), and the cycle after that merges all N: that
cycle is measured (wall clock), and the one that opened them. The merge cycle is split into
the local forge's own work (``LocalForge.merge`` less the git writes it asks for), those
writes (``update_branch``: build the commit, push it) and the rest of the cycle (observe,
plan, the applier's checks). The daemon's stuck limit is max(10 x poll interval, 5 min):
300 s at the default 30 s poll.

Side by side: each size runs in a fresh process with this tree's ``reconciler`` (or the one
of ``--after``) and again with the one of ``--baseline`` (commits, extracted with ``git
archive``; default: main just before the local forge's merges stopped fetching), and the
ratio is printed. ``--baseline none`` runs the tree alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import reconciler
from benchmarks.common import line
from benchmarks.generate import app_name, digest
from benchmarks.settled import overlay_path, push, settled_remote
from reconciler.forge.local import LocalForge
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.settings import Settings
from reconciler.wiring import build

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "e5a0833"  # main just before linear merges (377cad0): each merge fetched all
STUCK_LIMIT = 300.0


def measure(apps: int) -> dict[str, float]:
    """The cycle that opens ``apps`` requests and the one that merges them, in seconds."""
    spent = {"forge": 0.0, "writes": 0.0}
    _timed(LocalForge, "merge", spent, "forge")
    _timed(Pygit2ConfigRepo, "update_branch", spent, "writes")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        bare = settled_remote(work, apps)
        daemon = build(Settings(repo=str(bare), cache_dir=work / "cache")).runner
        idle = daemon.cycle()
        assert not idle.outcomes, idle.summary()

        def repin(view: ReadView) -> dict[str, bytes | None]:
            changes: dict[str, bytes | None] = {}
            for name in (app_name(i) for i in range(apps)):
                path = overlay_path(name, "dev")
                data = view.read(path)
                assert data is not None
                old = data.split(b"sha256:", 1)[1][:64].decode()
                changes[path] = data.replace(f"sha256:{old}".encode(), digest(f"{name}-2").encode())
            return changes

        push(bare, work / "person", repin, "a new dev digest for every app")
        start = time.perf_counter()
        opened = daemon.cycle()
        opening = time.perf_counter() - start
        assert [o.result for o in opened.outcomes] == ["opened"] * apps, opened.summary()
        spent.update(forge=0.0, writes=0.0)
        start = time.perf_counter()
        merged = daemon.cycle()
        merging = time.perf_counter() - start
        assert [o.result for o in merged.outcomes] == ["merged"] * apps, merged.summary()
    # Every write of a merge cycle is a merge's: its base commit and its record.
    forge = spent["forge"] - spent["writes"]
    return {"open": opening, "merge": merging, "forge": forge, "writes": spent["writes"]}


def _timed(owner: type, name: str, spent: dict[str, float], key: str) -> None:
    """Add the wall time of every call of ``owner.name`` to ``spent[key]``."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - start

    setattr(owner, name, timed)


def run(
    sizes: tuple[int, ...], baseline: str | None = BASELINE, after: str | None = None
) -> list[str]:
    """Measure each size with this tree or ``after`` (and the baseline); the result lines."""
    out = []
    with tempfile.TemporaryDirectory() as folder:
        old = _extract(baseline, Path(folder) / "before") if baseline else None
        if baseline and old is None:
            out.append(f"(baseline {baseline} not found in this checkout: this tree alone)")
        new = _extract(after, Path(folder) / "after") if after else ROOT
        if new is None:
            raise SystemExit(f"--after {after}: no such commit in this checkout")
        for apps in sizes:
            figures = _child(apps, new)
            before = _child(apps, old) if old else None
            out += _lines(apps, before, figures, baseline)
    return out


def _lines(
    apps: int, before: dict[str, float] | None, after: dict[str, float], baseline: str | None
) -> list[str]:
    met = "met" if after["merge"] < STUCK_LIMIT else "MISSED"
    note = f"{after['merge'] / apps * 1000:.1f} ms each; stuck limit {STUCK_LIMIT:.0f} s {met}"
    if before:
        note += (
            f"; before ({baseline}) {before['merge']:.1f} s, "
            f"{before['merge'] / apps * 1000:.1f} ms each; {before['merge'] / after['merge']:.1f}x"
        )
    rows = [line(f"merge cycle, {apps} merges", f"{after['merge']:.1f} s", note)]
    parts = [
        ("forge", "  LocalForge.merge, writes excluded"),
        ("writes", "  git writes (build + push)"),
        ("rest", "  the rest (observe, plan, checks)"),
        ("open", f"cycle opening {apps} requests"),
    ]
    for figures in (after, before):
        if figures:
            figures["rest"] = figures["merge"] - figures["forge"] - figures["writes"]
    for key, name in parts:
        note = f"{after[key] / apps * 1000:.1f} ms each"
        if before:
            note += (
                f"; before ({baseline}) {before[key]:.1f} s, "
                f"{before[key] / apps * 1000:.1f} ms each; {before[key] / after[key]:.1f}x"
            )
        rows.append(line(name, f"{after[key]:.1f} s", note))
    return rows


def _extract(commit: str, into: Path) -> Path | None:
    """``commit``'s ``reconciler`` package under ``into``, or None if it is not here."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "reconciler"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _child(apps: int, package_root: Path) -> dict[str, float]:
    """``measure(apps)`` in a fresh process importing ``reconciler`` from ``package_root``."""
    path = os.pathsep.join(dict.fromkeys([str(package_root), str(ROOT)]))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.merge_cycle", "--measure", str(apps)],
        cwd=package_root,  # first on the child's path: its ``reconciler`` is the one measured
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring {apps} merges failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.splitlines()[-1])
    used = Path(figures.pop("package"))
    if not used.is_relative_to(package_root):
        raise RuntimeError(f"the child measured {used}, not the package under {package_root}")
    return {key: float(value) for key, value in figures.items()}


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="250,1000,2000", help="comma-separated N")
    parser.add_argument("--baseline", default=BASELINE, help="a commit, or none")
    parser.add_argument("--after", help="a commit to measure instead of this tree")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.measure:
        figures: dict[str, object] = {**measure(args.measure), "package": reconciler.__file__}
        print(json.dumps(figures))
        return
    baseline = None if args.baseline == "none" else args.baseline
    sizes = tuple(int(n) for n in args.sizes.split(","))
    print("\n".join(run(sizes, baseline, args.after)))


if __name__ == "__main__":
    main()
