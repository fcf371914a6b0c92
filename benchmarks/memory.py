"""Resident memory of a daemon over many cycles: VmRSS from /proc/self/status.

    python -m benchmarks.memory [--apps 1000] [--cycles 100]

A daemon with the local forge on the settled repo runs ``cycles`` cycles; every tenth, a
person pins a new digest in one app's dev overlay upstream, so new commits, trees and
promotions pass through the caches (the person's clone lives in a process of its own, so
the RSS read is the daemon's and the harness's imports, not the person's clone's). RSS is
read after building and after chosen cycles;
"growth" is the second half's change. ``--open N`` has N prod requests open (awaiting a
code owner) from the first cycle on. Target (issue 11): <= 150 MB after 100 cycles, and
not growing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import line, served
from benchmarks.generate import app_name
from benchmarks.settled import Upstream, rss_mb, settled_remote
from reconciler.settings import Settings
from reconciler.wiring import build

PROD_HEADS = "promote/prod/"
_PEOPLE: dict[str, Upstream] = {}  # in the person's process: its one clone


def _start(bare: Path, clone: Path) -> None:
    _PEOPLE["person"] = Upstream(bare, clone)


def _repin(app: str, envs: tuple[str, ...]) -> str:
    return _PEOPLE["person"].repin(app, envs)


class Person:
    """A person's clone of the remote (``settled.Upstream``) in a process of its own."""

    def __init__(self, bare: Path, clone: Path) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(bare, clone),
        )

    def repin(self, app: str, envs: tuple[str, ...] = ("dev",)) -> str:
        """Pin a new digest for ``app`` in each of ``envs`` in one commit, and push it."""
        return self._pool.submit(_repin, app, envs).result()

    def close(self) -> None:
        """End the person's process."""
        self._pool.shutdown()


@dataclass(frozen=True)
class Resident:
    """What ``measure`` found: RSS in MB before building and after chosen cycles (0: after
    building), its part that is mapped files (pack files, mostly), the pack files in the
    cache's clone, and the open prod requests after those cycles."""

    start: float
    samples: dict[int, float]
    files: dict[int, float]
    packs: dict[int, int]
    open_prod: dict[int, int]

    def own(self, cycle: int) -> float:
        """RSS after ``cycle`` less its mapped files: the process's own memory, in MB."""
        return self.samples[cycle] - self.files[cycle]


def measure(
    bare: Path,
    work: Path,
    apps: int,
    cycles: int = 100,
    open_requests: int = 0,
    *,
    serve: bool = False,
    steady: bool = False,
) -> Resident:
    """``cycles`` cycles with the local forge on the settled remote ``bare`` of ``apps``
    apps (pushed to and promoted on: pass a copy), caches in ``work``. ``serve``: the
    daemon clones and fetches through `git daemon`, as from a hosted remote (libgit2's
    local transport packs every object in the daemon's own process at the clone, and the
    memory that takes stays with it).

    With ``open_requests``, that many apps get a new digest in dev and staging before the
    first cycle, so it opens as many prod requests; prod needs a code owner's approval,
    which nobody gives, so they stay open through every cycle (and each tenth cycle's
    push adds one more, once staging has it). ``steady``: each tenth cycle's push gives one
    of those apps a newer digest in dev and staging instead, so its prod request is rebuilt
    and the number open stays the same: what grows then is not the work itself.
    """
    person = Person(bare, work / "person")
    try:
        for n in range(open_requests):
            person.repin(app_name(apps - 1 - n % apps), ("dev", "staging"))
        gc.collect()
        start = rss_mb()
        with served(bare) if serve else contextlib.nullcontext(str(bare)) as url:
            pushes = [app_name(apps - 1 - n % apps) for n in range(open_requests)] if steady else []
            return _cycles(url, work, apps, cycles, person=person, start=start, pushes=pushes)
    finally:
        person.close()


def _cycles(
    url: str,
    work: Path,
    apps: int,
    cycles: int,
    *,
    person: Person,
    start: float,
    pushes: list[str],
) -> Resident:
    """Run the cycles; every tenth, a push: the next of ``pushes`` in dev and staging, or
    (none given) a new app's dev."""
    wired = build(Settings(repo=url, cache_dir=work / "cache"))
    reconciler = wired.runner
    samples: dict[int, float] = {0: rss_mb()}
    files: dict[int, float] = {0: rss_mb("RssFile")}
    packs: dict[int, int] = {0: _packs(work)}
    open_prod: dict[int, int] = {}
    marks = {1, 2, cycles // 4, cycles // 2, 3 * cycles // 4, cycles}
    for n in range(1, cycles + 1):
        if n % 10 == 0 and pushes:
            person.repin(pushes[(n // 10) % len(pushes)], ("dev", "staging"))
        elif n % 10 == 0:
            person.repin(app_name(n % apps))
        reconciler.cycle()
        if n in marks:
            samples[n] = rss_mb()
            files[n] = rss_mb("RssFile")
            packs[n] = _packs(work)
            open_prod[n] = sum(
                1 for r in wired.forge.requests() if r.head_branch.startswith(PROD_HEADS)
            )
    wired.close()
    return Resident(start, samples, files, packs, open_prod)


def _packs(work: Path) -> int:
    """Pack files in the cache's clone: each fetch adds one, housekeeping folds them."""
    return sum(1 for _ in (work / "cache").glob("*.git/objects/pack/*.pack"))


def run(apps: int, cycles: int = 100, open_requests: int = 0, *, serve: bool = False) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        remote = settled_remote(work, apps)
        found = measure(remote, work, apps, cycles, open_requests, serve=serve)
    samples = found.samples
    final = samples[cycles]
    half = samples[cycles // 2]
    growth = final - half
    met = "met" if final <= 150 and growth <= 1 else "MISSED"
    out = [line(f"RSS before build ({apps} apps, harness)", f"{found.start:.0f} MB")]
    out += [
        line(
            f"RSS after {n} cycles",
            f"{mb:.0f} MB",
            f"{found.files[n]:.0f} MB of it mapped files; {found.packs[n]} packs in the clone",
        )
        for n, mb in sorted(samples.items())
    ]
    out.append(
        line(
            f"RSS after {cycles} cycles vs target",
            f"{final:.0f} MB",
            f"target <= 150 MB and flat; {met}",
        )
    )
    out.append(line(f"RSS growth, cycle {cycles // 2} -> {cycles}", f"{growth:+.1f} MB"))
    out.append(line(f"open prod requests after {cycles} cycles", f"{found.open_prod[cycles]}"))
    return out


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument(
        "--open", type=int, default=0, help="prod requests open (awaiting review) from the start"
    )
    parser.add_argument(
        "--serve", action="store_true", help="fetch through git daemon, as from a hosted remote"
    )
    args = parser.parse_args()
    print("\n".join(run(args.apps, args.cycles, args.open, serve=args.serve)))


if __name__ == "__main__":
    main()
