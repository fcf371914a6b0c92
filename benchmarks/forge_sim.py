"""The GitHub simulator (tests/servers/github_sim) set up for benchmarks, and its counters.

Forge request figures come from the simulator's own books: ``spent`` reads the primary rate
limit buckets it keeps (a 304 to a conditional GET and ``/rate_limit`` cost nothing, as on
GitHub), ``served`` the requests it answered per operation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.settings import Settings
from reconciler.wiring import Wired, build
from tests.servers.github_sim import GitHubSim, serve_github

BOT = "reconciler-bot"


@dataclass
class Forge:
    """A running simulator serving the bare repo, and settings for a daemon against it."""

    sim: GitHubSim
    settings: Settings

    def wire(self) -> Wired:
        """Build a daemon against the simulator (clones into the settings' cache folder)."""
        return build(self.settings)

    def spent(self) -> int:
        """Requests counted against any primary rate limit so far."""
        world = self.sim.world
        with world.lock:
            return sum(bucket.used for bucket in world.buckets.values())

    def served(self) -> Counter[str]:
        """Requests answered so far, per operation."""
        return self.sim.counts


@contextmanager
def github(bare: Path, work: Path) -> Iterator[Forge]:
    """Serve ``bare`` as acme/config: a bot with admin rights, team @acme/release owning prod
    and branch protection that enforces code-owner reviews on main, administrators included
    (without that the admin bot could bypass it, and prod would be blocked)."""
    with serve_github(bare, validate=False) as sim:
        token = sim.add_user(BOT, permission="admin")
        sim.add_user("alice")
        sim.add_team("release", ("alice",))
        sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)
        (work / "token").write_text(token + "\n")
        settings = Settings(
            repo=str(sim.git_path),
            cache_dir=work / "gh-cache",
            forge="github",
            github_repo="acme/config",
            github_url=sim.url,
            github_token_file=work / "token",
        )
        yield Forge(sim, settings)
