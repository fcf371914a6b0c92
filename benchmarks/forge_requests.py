"""Forge requests per promotion: a prod pull request opened with reviewers and labels.

    python -m benchmarks.forge_requests [--apps 1000] [--promotions 1,5]

Against the GitHub simulator: a warm daemon on the settled repo; a person pins a new digest
in the dev and staging overlays of N apps; the next cycle opens N prod pull requests, each labelled
and asking @acme/release (prod's code owners) for review. Counted from the simulator's own
rate limit books (requests that cost budget; 304s and /rate_limit are free) over that cycle
and the one after it, which polls the new pulls for the first time (reads their reviews),
minus two idle cycles'. The poll of the list of open pulls, once a cycle, is reported apart:
it costs one request when the list changed, however many pulls opened. Target (issue 11):
<= 4 per promotion.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import line
from benchmarks.forge_sim import Forge, github
from benchmarks.generate import app_name
from benchmarks.settled import Upstream, settled_remote
from reconciler.cycle import CycleRunner

LIST_PULLS = "GET /repos/{owner}/{repo}/pulls"


def promote(
    forge: Forge, daemon: CycleRunner, person: Upstream, apps: list[str]
) -> tuple[int, int]:
    """Rate-limited requests of the cycle that opens a prod PR for each of ``apps``, and of
    the cycle after it (the first to poll those PRs; it must find nothing to do)."""
    for app in apps:
        person.repin(app, ("dev", "staging"))
    before = forge.spent()
    result = daemon.cycle()
    opening = forge.spent() - before
    opened = [o for o in result.outcomes if o.ok and o.result == "opened"]
    assert len(opened) == len(apps) == len(result.outcomes), result.summary()
    for outcome in opened:
        number = getattr(outcome.action, "number", None) or _number(forge, outcome.action)
        pull = forge.sim.pull(number)
        assert pull.labels, f"#{number} has no labels"
        assert pull.requested_teams, f"#{number} asks no team for review"
    before = forge.spent()
    after = daemon.cycle()
    assert not after.outcomes, after.summary()  # nothing left undone for it to repair
    return opening, forge.spent() - before


def _number(forge: Forge, action: object) -> int:
    title = getattr(action, "title", "")
    with forge.sim.world.lock:
        return next(p.number for p in forge.sim.world.pulls.values() if p.title == title)


@dataclass(frozen=True)
class Promoted:
    """Forge requests of N promotions opened in one cycle and polled in the next."""

    size: int
    later: bool  # the forge asked code owners after answering the create
    total: int  # rate-limited requests of both cycles, less two idle cycles'
    opening: int  # of which the cycle that opens, less an idle cycle's
    polls: int  # of which the poll of the list of open pulls (one a cycle, however many)
    ops: Counter[str]

    @property
    def per(self) -> float:
        """Requests per promotion, the per-cycle poll left out."""
        return (self.total - self.polls) / self.size


def measure(
    bare: Path, work: Path, apps: int, sizes: tuple[int, ...] = (1, 5)
) -> tuple[int, list[Promoted]]:
    """The settled remote ``bare`` of ``apps`` apps served by the GitHub simulator (pushed
    to: pass a copy), caches in ``work``: an idle cycle's rate-limited requests, and each
    batch of ``sizes`` promotions', code owners asked at once and then later."""
    found = []
    with github(bare, work) as forge:
        daemon = forge.wire().runner
        for _ in range(2):
            daemon.cycle()
        before = forge.spent()
        idle = daemon.cycle()
        assert not idle.outcomes, idle.summary()
        idle_cost = forge.spent() - before
        person = Upstream(bare, work / "person")
        start = 0
        # The simulator asks a new pull's code owners at once, so its create answer names
        # them; github.com may ask in the background, after answering. Either way the daemon
        # leaves a new pull's code owners to GitHub, and asks a cycle later only those it
        # has not asked.
        for later in (False, True):
            forge.sim.faults.code_owners_later = later
            for size in sizes:
                names = [app_name((start + i) % apps) for i in range(size)]
                start += size
                found.append(_measure(forge, daemon, person, names, idle_cost, later=later))
    return idle_cost, found


def run(apps: int, sizes: tuple[int, ...] = (1, 5)) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        idle_cost, found = measure(settled_remote(work, apps), work, apps, sizes)
    out = [line(f"forge requests, idle cycle ({apps} apps)", f"{idle_cost}", "baseline")]
    for promoted in found:
        out += _lines(promoted)
    return out


def _measure(
    forge: Forge,
    daemon: CycleRunner,
    person: Upstream,
    names: list[str],
    idle_cost: int,
    *,
    later: bool,
) -> Promoted:
    seen = len(forge.sim.exchanges)
    opening, next_cycle = promote(forge, daemon, person, names)
    ops = Counter(
        e.operation
        for e in forge.sim.exchanges[seen:]
        if e.status != 304 and e.status < 500 and e.path != "/rate_limit"
    )
    # The list of open pulls is polled once a cycle, and costs whenever it changed: when
    # pulls opened, or when the base moved under open ones (each pull names its base sha).
    # However many promotions a cycle opens, that is one request: per cycle, not promotion.
    total = opening + next_cycle - 2 * idle_cost
    return Promoted(len(names), later, total, opening - idle_cost, ops[LIST_PULLS], ops)


def _lines(found: Promoted) -> list[str]:
    met = "met" if found.per <= 4 else "MISSED"
    owners = "; owners asked after the create answer" if found.later else ""
    return [
        line(
            f"forge requests per promotion (N={found.size})",
            f"{found.per:g}",
            f"rate-limited; target <= 4; {met}{owners}",
        ),
        f"    {found.total} for {found.size} over the cycle that opens ({found.opening}) and the "
        f"next ({found.total - found.opening}), "
        f"of which {found.polls} the per-cycle poll of open pulls; "
        "the ones that cost budget: " + _breakdown(found.ops),
    ]


def _breakdown(ops: Counter[str]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in sorted(ops.items()))


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--promotions", default="1,5", help="comma-separated batch sizes")
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.promotions.split(","))
    print("\n".join(run(args.apps, sizes)))


if __name__ == "__main__":
    main()
