"""Overlay pins as git holds them: each file parsed once per blob (and kept for the next
process, reconciler.pinstore), and the pin facts of an overlay's history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from reconciler import partfiles, pinstore, pinworkers, promotions
from reconciler.errors import PolicyError, ReconcilerError
from reconciler.gates import PinFact
from reconciler.gitrepo.blobcache import BlobCache
from reconciler.gitrepo.port import CommitInfo, ConfigRepo, ReadView
from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import Policy
from reconciler.policy.model import App, Environment
from reconciler.revisions import Revision, changed_keys
from reconciler.snapshot import Key, OverlayState

PIN_FILE_EVERY = 60.0  # seconds: how often a daemon saves newly parsed pins at most
HISTORY_DEPTH = 20  # commits of an overlay's history kept for pin facts (see back_to)
K = TypeVar("K")


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
        # Whether each commit is a promotion, and a rollback's reason (None: not one): one
        # commit (a first import, a bulk edit) is the newest of thousands of overlays, and
        # its trailers are read once.
        self._promoted: dict[str, tuple[bool, str | None]] = {}

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
            pin = pins.read_pin(fmt, data, path, app)
            return pin.shared() if pin is not None else None

        return self._pins.get_or_parse(_key(blob, fmt, app), parse)

    def warm(
        self, files: Mapping[K, tuple[str, App, ReadView, str]], worker: pinworkers.Worker
    ) -> dict[K, ImagePin | None]:
        """The pins of ``files`` (format, app, view, path, by the caller's key), those not
        kept yet parsed here and in ``worker`` at once (a cold start's thousands,
        reconciler.pinworkers), and kept. A file left out of the answer (one that does not
        read) is for ``pin``, which words its error."""
        jobs: dict[str, pinworkers.Job] = {}
        keys: dict[K, str] = {}
        for name, (fmt, app, view, path) in files.items():
            blob = view.blob_id(path)
            if blob is None:
                continue
            key = keys[name] = _key(blob, fmt, app)
            if key in jobs or key in self._pins:
                continue
            data = view.read(path)
            if data is not None:
                jobs[key] = pinworkers.Job(key, fmt, data, path, app)
        found = worker.parse(list(jobs.values()))
        self._pins.preload(
            {key: pin.shared() if pin is not None else None for key, pin in found.items()},
            parsed=True,
        )
        kept = self._pins.entries()
        return {name: kept[key] for name, key in keys.items() if key in kept}

    def unit_pin(
        self, fmt: str, app: App, view: ReadView, files: partfiles.Layout
    ) -> ImagePin | None:
        """The pin of ``app``, a unit whose parts are pinned in ``files``: each file's
        parts read (once per blob) and made one."""
        return partfiles.combine(
            app, [self.pin(fmt, sub, view, path) for path, sub in partfiles.regroup(app, files)]
        )

    def facts(
        self,
        env: Environment,
        app: App,
        state: OverlayState,
        commits: tuple[CommitInfo, ...],
        views: dict[str, ReadView],
    ) -> tuple[PinFact, ...]:
        """Pin facts, oldest first, for ``commits`` (newest first) that changed the files
        of ``state``."""
        facts = []
        for info in commits:
            if info.id not in views:
                views[info.id] = self.repo.tree(info.id)
            try:
                if state.part_files:
                    pin = self.unit_pin(env.format, app, views[info.id], state.part_files)
                else:
                    pin = self.pin(env.format, app, views[info.id], state.path)
            except ReconcilerError:
                pin = None  # a broken or deleted overlay in the past pins nothing
            digest = (pin.digest or None) if pin else None
            facts.append(PinFact(info.id, info.time, digest, *self._made_by(info)))
        return tuple(reversed(facts))

    def newest(self, info: CommitInfo, pin: ImagePin | None) -> PinFact:
        """The fact of ``info``, the newest commit that changed an overlay now pinning
        ``pin``: the file is as that commit left it, so nothing is parsed."""
        digest = (pin.digest or None) if pin else None
        return PinFact(info.id, info.time, digest, *self._made_by(info))

    def _made_by(self, info: CommitInfo) -> tuple[bool, str | None]:
        """Whether ``info`` is the daemon's promotion, and a rollback's reason (None: not
        one); read once per commit."""
        known = self._promoted.get(info.id)
        if known is None:
            known = (info.trailer(promotions.PROMOTED_FROM) is not None, self._rollback(info))
            if len(self._promoted) >= 10_000:
                self._promoted.clear()  # bounded; a miss only costs a trailer lookup
            self._promoted[info.id] = known
        return known

    def _rollback(self, info: CommitInfo) -> str | None:
        """A `reconciler rollback` commit's reason ("" when none); None for other commits.

        A person who merges the rollback's request on GitHub makes a merge commit with
        GitHub's own message ("Merge pull request #N ..."), which carries no trailers; the
        request's head, the daemon's rollback commit, does. Only the rollback is read from
        it, never whether a commit is the daemon's promotion: a claimed rollback holds (a
        head anyone pushed could claim one), a claimed promotion would lift a hold.
        """
        reason = _rollback(info)
        if reason is not None or len(info.parents) < 2:
            return reason
        try:
            return _rollback(self.repo.commit_info(info.parents[1]))
        except (ReconcilerError, KeyError, ValueError):
            return None

    def complete(
        self, env: Environment, app: App, state: OverlayState, views: dict[str, ReadView]
    ) -> OverlayState:
        """``state`` with the pins of its ``unread`` commits read into its history."""
        if not state.unread:
            return state
        older = self.facts(env, app, state, state.unread, views)
        return replace(state, history=older + state.history, unread=())

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
        if state.unread:
            raise ValueError("back_to needs the whole window: complete the state first")
        history = state.history
        if len(history) < HISTORY_DEPTH or any(f.digest == digest for f in history):
            return history  # the window reaches the file's first commit, or holds digest
        key = (history[0].commit, *state.files, env.format, app.read_as, repr(app.helm), digest)
        older = self._older.get(key)
        if older is None:
            older = self._walk_back(env, app, state, history[0].commit, digest)
            if len(self._older) >= 10_000:
                self._older.clear()  # bounded; a miss only costs a walk
            self._older[key] = older
        return older + history

    def _walk_back(
        self, env: Environment, app: App, state: OverlayState, first: str, digest: str
    ) -> tuple[PinFact, ...]:
        """Pin facts before ``first`` (exclusive), back to one pinning ``digest`` or the
        root; each deeper look walks again from ``first`` with four times the reach."""
        views: dict[str, ReadView] = {}
        limit = 4 * HISTORY_DEPTH
        while True:
            each = [
                self.repo.history(first, path, limit=limit, first_parent=True)
                for path in state.files
            ]
            whole = all(len(commits) < limit for commits in each)
            commits = merged_histories(each, limit)
            older = [c for c in commits if c.id != first]
            facts = self.facts(env, app, state, tuple(older), views)
            hits = [i for i, fact in enumerate(facts) if fact.digest == digest]
            if hits:
                return facts[hits[-1] :]
            if whole:
                return facts  # the files' whole history: ``digest`` was never pinned
            limit *= 4


def _key(blob: str, fmt: str, app: App) -> str:
    # What is read depends on the app's image name (kustomize) or keys (Helm) too; a
    # kustomization is read by image name alone, so its key leaves the keys out (47,000
    # kept pins at 10,000 apps: the Helm keys' text cost 5 MB there).
    helm = f":{app.helm!r}" if fmt == "helm" else ""
    return f"{blob}:{fmt}:{app.read_as}{helm}"


def merged_histories(
    each: Sequence[Sequence[CommitInfo]], limit: int | None = None
) -> tuple[CommitInfo, ...]:
    """Several files' first-parent histories (each newest first) as one, newest first: the
    commits that changed any of them, once each, by commit time (a unit's part files).

    A history of ``limit`` commits may stop short of its file's first commit: the merged
    one then stops at the newest such end, so no file's commit is missing from it.
    """
    if len(each) == 1:
        return tuple(each[0])
    seen: dict[str, CommitInfo] = {}
    for commits in each:
        for info in commits:
            seen.setdefault(info.id, info)
    merged = sorted(seen.values(), key=lambda info: info.time, reverse=True)
    ends = [c[-1].time for c in each if limit is not None and c and len(c) >= limit]
    if ends:
        merged = [info for info in merged if info.time >= max(ends)]
    return tuple(merged)


def _rollback(info: CommitInfo) -> str | None:
    """A `reconciler rollback` commit's reason ("" when none); None for other commits."""
    if info.trailer(promotions.ROLLBACK_OF) is None:
        return None
    return info.trailer(promotions.ROLLBACK_REASON) or ""


class Windows:
    """The whole history window of the overlays a plan looks at (an edge with a candidate,
    a live time taken back to a record), each kept while its overlay is the same object.

    A full read knows only each overlay's newest pin (``OverlayState.unread``); at a cold
    start of 10,000 apps with long histories, parsing every commit's file would dominate.
    """

    def __init__(self, pins: PinFacts) -> None:
        self.pins = pins
        # key -> (the state as read, the candidate it was deepened for, the result)
        self._kept: dict[Key, tuple[OverlayState, str | None, OverlayState]] = {}
        self._used: dict[Key, tuple[OverlayState, str | None, OverlayState]] = {}
        self._views: dict[str, ReadView] = {}
        self._last: tuple[Mapping[Key, OverlayState], Mapping[Key, OverlayState]] | None = None

    def whole(self, policy: Policy, key: Key, state: OverlayState) -> OverlayState:
        """``state`` with its whole window read (PinFacts.complete)."""
        return self._made(policy, key, state, None)

    def for_candidates(
        self, policy: Policy, overlays: Mapping[Key, OverlayState], candidates: Mapping[Key, str]
    ) -> Mapping[Key, OverlayState]:
        """``overlays`` with the source and target of every edge with a candidate read
        whole, each target walked back as far as the manual-rollback rule needs to judge
        that candidate (PinFacts.back_to). Ends the cycle's use: what it did not ask for
        is forgotten."""
        # An overlay may be the source of one edge and the target of another (staging):
        # then it is walked back for the target's candidate, which serves the source too.
        wanted: dict[Key, str | None] = {}
        for (app_name, env_name), digest in candidates.items():
            target = policy.environments.get(env_name)
            if target is None or target.follows is None:
                continue
            wanted.setdefault((app_name, target.follows), None)
            wanted[(app_name, env_name)] = digest
        updates: dict[Key, OverlayState] = {}
        for key, deepen in wanted.items():
            state = overlays.get(key)
            if state is None or state.error:
                continue
            made = self._made(policy, key, state, deepen)
            if made is not state:
                updates[key] = made
        self._kept, self._used, self._views = self._used, {}, {}
        last = self._last
        if last is not None and last[0] is overlays and _same(last[1], overlays, updates):
            return last[1]  # the same objects as last cycle: planning sees nothing changed
        made_all = _derive(overlays, updates)
        self._last = (overlays, made_all)
        return made_all

    def _made(
        self, policy: Policy, key: Key, state: OverlayState, deepen: str | None
    ) -> OverlayState:
        for known in (self._used.get(key), self._kept.get(key)):
            if known is not None and known[0] is state and known[1] == deepen:
                self._used[key] = known
                return known[2]
        app, env = policy.apps.get(key[0]), policy.environments.get(key[1])
        made = state
        if app is not None and env is not None:
            made = self.pins.complete(env, app, state, self._views)
            if deepen is not None:
                history = self.pins.back_to(env, app, made, deepen)
                if history is not made.history:
                    made = replace(made, history=history)
        self._used[key] = (state, deepen, made)
        return made


def _same(
    before: Mapping[Key, OverlayState],
    overlays: Mapping[Key, OverlayState],
    updates: Mapping[Key, OverlayState],
) -> bool:
    """Whether ``before`` (made from ``overlays``) holds exactly ``updates`` over it."""
    if before is overlays:
        return not updates
    changed = changed_keys(overlays, before)
    return changed == updates.keys() and all(before[k] is v for k, v in updates.items())


def _derive(
    overlays: Mapping[Key, OverlayState], updates: Mapping[Key, OverlayState]
) -> Mapping[Key, OverlayState]:
    if not updates:
        return overlays
    if isinstance(overlays, Revision):
        return overlays.derive(updates)
    return MappingProxyType({**overlays, **updates})
