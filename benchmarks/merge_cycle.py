"""Many merges in one cycle, with the local forge: N approved requests merged by one cycle.

    python -m benchmarks.merge_cycle [--sizes 250,1000,2000] [--baseline REV|none]

On a settled repo of N apps (benchmarks/settled.py), a person pins a new digest in every
app's dev overlay in one commit; the daemon's next cycle opens N staging requests (staging
merges automatically and has no code owners), and the cycle after that merges all N: that
cycle is measured (wall clock), and the one that opened them. The daemon's stuck limit is
max(10 x poll interval, 5 min): 300 s at the default 30 s poll.

Side by side: each size runs in a fresh process with this tree's ``reconciler`` and again
with the one of ``--baseline`` (a commit, extracted with ``git archive``; default: the
commit before issue 13's work), and the ratio is printed. ``--baseline none`` runs this
tree alone.
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

import reconciler
from benchmarks.common import line
from benchmarks.generate import app_name, digest
from benchmarks.settled import overlay_path, push, settled_remote
from reconciler.gitrepo.port import ReadView
from reconciler.settings import Settings
from reconciler.wiring import build

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "cdcb4eb"  # main before issue 13 (merges fetched the whole repo each)
STUCK_LIMIT = 300.0


def measure(apps: int) -> dict[str, float]:
    """The cycle that opens ``apps`` requests and the one that merges them, in seconds."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        bare = settled_remote(work, apps)
        daemon = build(Settings(repo=str(bare), cache_dir=work / "cache")).reconciler
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
        start = time.perf_counter()
        merged = daemon.cycle()
        merging = time.perf_counter() - start
        assert [o.result for o in merged.outcomes] == ["merged"] * apps, merged.summary()
    return {"open": opening, "merge": merging}


def run(sizes: tuple[int, ...], baseline: str | None = BASELINE) -> list[str]:
    """Measure each size with this tree (and the baseline) and return the result lines."""
    out = []
    with tempfile.TemporaryDirectory() as folder:
        old = _extract(baseline, Path(folder)) if baseline else None
        if baseline and old is None:
            out.append(f"(baseline {baseline} not found in this checkout: this tree alone)")
        for apps in sizes:
            after = _child(apps, ROOT)
            before = _child(apps, old) if old else None
            out += _lines(apps, before, after, baseline)
    return out


def _lines(
    apps: int, before: dict[str, float] | None, after: dict[str, float], baseline: str | None
) -> list[str]:
    per = after["merge"] / apps * 1000
    met = "met" if after["merge"] < STUCK_LIMIT else "MISSED"
    rows = [
        line(
            f"merge cycle, {apps} merges",
            f"{after['merge']:.1f} s",
            f"{per:.1f} ms a merge; stuck limit {STUCK_LIMIT:.0f} s {met}",
        )
    ]
    if before:
        ratio = before["merge"] / after["merge"]
        rows.append(
            line(
                f"  before ({baseline})",
                f"{before['merge']:.1f} s",
                f"{before['merge'] / apps * 1000:.1f} ms a merge; before / after {ratio:.1f}x",
            )
        )
    rows.append(line(f"cycle opening {apps} requests", f"{after['open']:.1f} s"))
    if before:
        rows.append(
            line(
                f"  before ({baseline})",
                f"{before['open']:.1f} s",
                f"before / after {before['open'] / after['open']:.1f}x",
            )
        )
    return rows


def _extract(commit: str, into: Path) -> Path | None:
    """``commit``'s ``reconciler`` package under ``into``, or None if it is not here."""
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
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.measure:
        figures: dict[str, object] = {**measure(args.measure), "package": reconciler.__file__}
        print(json.dumps(figures))
        return
    baseline = None if args.baseline == "none" else args.baseline
    print("\n".join(run(tuple(int(n) for n in args.sizes.split(",")), baseline)))


if __name__ == "__main__":
    main()
