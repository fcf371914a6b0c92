"""The `registry-tag` live source: the digest a mutable environment tag points to.

The seed's practice: env tags (`staging`, `production`) are moved to the digest each
environment runs, so they tell what runs where. This source reads them back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from reconciler.errors import ReconcilerError
from reconciler.live.unitstate import combine
from reconciler.policy.model import RegistryTagLive
from reconciler.registry.port import ImageNotFound, ImageRegistry
from reconciler.snapshot import LiveState


class RegistryTagLiveReader:
    """Resolves ``tag`` in each app's repository; remembers when it first saw each digest."""

    def __init__(
        self,
        source: RegistryTagLive,
        registry: ImageRegistry,
        images: Mapping[str, str],
        clock: Callable[[], datetime],
        units: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._source = source
        self._registry = registry
        self._images = images  # app name -> repository
        self._units = units or {}  # an app of several images: part name -> repository
        self._clock = clock
        self._first_seen: dict[tuple[str, str, str], datetime] = {}

    def read(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LiveState]:
        """One LiveState per (app, env)."""
        now = self._clock()
        out = {}
        for app, env in pairs:
            if app in self._units:
                # Each part's tag; the unit runs the set they point to, all or nothing.
                states = {part: self._one(repo) for part, repo in self._units[app].items()}
                state = combine(states)
            else:
                repository = self._images.get(app)
                if repository is None:
                    out[(app, env)] = LiveState(None, error=f"no image is known for {app}")
                    continue
                state = self._one(repository)
            if state.digest is not None:
                since = self._first_seen.setdefault((app, env, state.digest), now)
                state = LiveState(state.digest, since, sighted=True)
            out[(app, env)] = state
        return out

    def _one(self, repository: str) -> LiveState:
        """Where the tag points in ``repository`` (no time: the caller's first sighting)."""
        try:
            digest = self._registry.resolve(repository, self._source.tag)
        except ImageNotFound:
            return LiveState(None, error=f"{repository} has no tag {self._source.tag} yet")
        except ReconcilerError as exc:
            return LiveState(None, error=str(exc))
        return LiveState(digest)
