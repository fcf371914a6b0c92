"""Overlay pins as git holds them: each file parsed once per blob (and kept for the next
process, reconciler.pinstore), and the pin facts of an overlay's history."""

from __future__ import annotations

from pathlib import Path

from reconciler import pinstore, promotions
from reconciler.errors import PolicyError, ReconcilerError
from reconciler.gates import PinFact
from reconciler.gitrepo.blobcache import BlobCache
from reconciler.gitrepo.port import CommitInfo, ConfigRepo, ReadView
from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App, Environment
from reconciler.snapshot import OverlayState

PIN_FILE_EVERY = 60.0  # seconds: how often a daemon saves newly parsed pins at most
HISTORY_DEPTH = 20  # commits of an overlay's history kept for pin facts (see back_to)


class PinFacts:
    """Parses pins through a blob cache and turns overlay histories into pin facts."""

    def __init__(self, repo: ConfigRepo, pin_file: Path | None = None) -> None:
        """``pin_file`` keeps parsed pins for the next process (reconciler.pinstore)."""
        self.repo = repo
        self._pins: BlobCache[ImagePin | None] = BlobCache(max_entries=50_000)
        self._pin_file = pin_file
        if pin_file is not None:
            self._pins.preload(pinstore.load(pin_file))
        self._kept_at = (0, -PIN_FILE_EVERY)  # misses and monotonic time at the last save
        self._older: dict[tuple[str, ...], tuple[PinFact, ...]] = {}  # see back_to

    @property
    def parses(self) -> int:
        """How many overlay files this reader has parsed for a pin (not found cached)."""
        return self._pins.misses

    def keep(self, *, now: float, at_once: bool = False) -> None:
        """Save parsed pins for the next process when new ones were parsed: at once, or at
        most every ``PIN_FILE_EVERY`` seconds (of ``now``, a monotonic clock)."""
        misses, last = self._kept_at
        if self._pin_file is None or self._pins.misses == misses:
            return
        if not at_once and now - last < PIN_FILE_EVERY:
            return
        pinstore.save(self._pin_file, self._pins.entries())
        self._kept_at = (self._pins.misses, now)

    def pin(self, fmt: str, app: App, view: ReadView, path: str) -> ImagePin | None:
        """The pin of ``app`` in the file at ``path``, parsed once per blob."""
        blob = view.blob_id(path)
        if blob is None:
            raise PolicyError(f"{path} does not exist")

        def parse() -> ImagePin | None:
            data = view.read(path)
            assert data is not None
            return pins.read_pin(fmt, data, path, app)

        # What is read depends on the app's image name (kustomize) or keys (Helm) too; a
        # kustomization is read by image name alone, so its key leaves the keys out (47,000
        # kept pins at 10,000 apps: the Helm keys' text cost 5 MB there).
        helm = f":{app.helm!r}" if fmt == "helm" else ""
        return self._pins.get_or_parse(f"{blob}:{fmt}:{app.image_name}{helm}", parse)

    def facts(
        self,
        env: Environment,
        app: App,
        path: str,
        commits: tuple[CommitInfo, ...],
        views: dict[str, ReadView],
    ) -> tuple[PinFact, ...]:
        """Pin facts, oldest first, for ``commits`` (newest first) that changed ``path``."""
        facts = []
        for info in commits:
            if info.id not in views:
                views[info.id] = self.repo.tree(info.id)
            try:
                pin = self.pin(env.format, app, views[info.id], path)
            except ReconcilerError:
                pin = None  # a broken or deleted overlay in the past pins nothing
            by_reconciler = info.trailer(promotions.PROMOTED_FROM) is not None
            digest = (pin.digest or None) if pin else None
            facts.append(PinFact(info.id, info.time, digest, by_reconciler))
        return tuple(reversed(facts))

    def back_to(
        self, env: Environment, app: App, state: OverlayState, digest: str
    ) -> tuple[PinFact, ...]:
        """``state.history`` walked back as far as a rollback rule needs: to the last
        commit that pinned ``digest``, or to the first commit of the file.

        The kept window is a fixed number of commits touching the file; in an overlay
        shared by many apps, others' promotions fill it within hours, and a person's
        rollback of ``digest`` must not be forgotten then. The part before the window never
        changes, so what a walk finds is kept (by the window's first commit).
        """
        history = state.history
        if len(history) < HISTORY_DEPTH or any(f.digest == digest for f in history):
            return history  # the window reaches the file's first commit, or holds digest
        key = (history[0].commit, state.path, env.format, app.image_name, repr(app.helm), digest)
        older = self._older.get(key)
        if older is None:
            older = self._walk_back(env, app, state.path, history[0].commit, digest)
            if len(self._older) >= 10_000:
                self._older.clear()  # bounded; a miss only costs a walk
            self._older[key] = older
        return older + history

    def _walk_back(
        self, env: Environment, app: App, path: str, first: str, digest: str
    ) -> tuple[PinFact, ...]:
        """Pin facts before ``first`` (exclusive), back to one pinning ``digest`` or the
        root; each deeper look walks again from ``first`` with four times the reach."""
        views: dict[str, ReadView] = {}
        limit = 4 * HISTORY_DEPTH
        while True:
            commits = self.repo.history(first, path, limit=limit, first_parent=True)
            older = [c for c in commits if c.id != first]
            facts = self.facts(env, app, path, tuple(older), views)
            hits = [i for i, fact in enumerate(facts) if fact.digest == digest]
            if hits:
                return facts[hits[-1] :]
            if len(commits) < limit:
                return facts  # the file's whole history: ``digest`` was never pinned
            limit *= 4
