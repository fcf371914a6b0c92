"""What git says should run: the policy in force, every overlay's pin and history, and
CODEOWNERS, at one commit of the base branch, read incrementally.

A daemon on a 1,000-app repo must cost almost nothing while idle and react at once to a
push, so reading is proportional to what changed:

- the same commit as last cycle: the last result, as it was (no parsing at all);
- a fast-forward: one tree diff from the last commit, then only the overlays under a
  changed path are read again, and their histories extended by the new commits alone;
  the policy is loaded again only when it, or the set of overlay files, changed;
- anything else (first read, a rewritten branch): everything, in one history walk.

Parsed pins are cached by blob id, so even a full read parses each distinct file once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from reconciler import codeowners, promotions
from reconciler.errors import PolicyError, ReconcilerError
from reconciler.gates import PinFact
from reconciler.gitrepo.blobcache import BlobCache
from reconciler.gitrepo.port import CommitInfo, ConfigRepo, FileChange, ReadView
from reconciler.model import KUSTOMIZATION_FILES
from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import POLICY_FILE, Policy, load_policy
from reconciler.policy.model import App, Environment
from reconciler.policy.values import fill
from reconciler.snapshot import Key, OverlayState

HISTORY_DEPTH = 20  # commits of an overlay's history read for pin facts


@dataclass(frozen=True)
class Desired:
    """The base branch at ``commit``: the policy in force and what it makes of the tree."""

    commit: str
    policy: Policy | None  # the last good policy when this commit's is invalid
    errors: tuple[str, ...]  # this commit's policy problems; () when it is valid
    overlays: Mapping[Key, OverlayState]
    owners: codeowners.CodeOwners


@dataclass(frozen=True)
class _Read:
    """One overlay as read, and the paths whose change would make it stale."""

    state: OverlayState
    depends: frozenset[str]  # as asked and as resolved through symlinks


class DesiredReader:
    """Reads ``Desired`` for successive commits, re-reading only what changed."""

    def __init__(
        self, repo: ConfigRepo, select: Callable[[Policy], Policy] = lambda policy: policy
    ) -> None:
        """``select`` narrows every loaded policy (a shard keeps its own apps)."""
        self.repo = repo
        self.select = select
        self.last_good: Policy | None = None
        self._pins: BlobCache[ImagePin | None] = BlobCache(max_entries=50_000)
        self._last: Desired | None = None
        self._reads: dict[tuple[str, str, App], _Read] = {}  # (folder, format, app)
        self.full_reads = 0  # how many reads could not build on the last one (for tests)

    def read(self, commit: str, branch: str) -> Desired:
        """The desired state at ``commit`` of ``branch``."""
        last = self._last
        if last is not None and last.commit == commit:
            return last
        view = self.repo.tree(commit)
        changes = self._changes(last, commit) if last is not None else None
        if changes is None:
            self.full_reads += 1
            self._reads = {}
        if changes is None or last is None or _policy_touched(changes, self._reads):
            policy, errors = self._policy(view, branch)
        else:
            policy, errors = last.policy, last.errors
        if changes is None or last is None or _any_under(changes, codeowners.LOCATIONS):
            owners = codeowners.find(view.read)
        else:
            owners = last.owners
        overlays = self._overlays(policy, view, changes, last) if policy is not None else {}
        self._last = Desired(commit, policy, errors, MappingProxyType(overlays), owners)
        return self._last

    # -- what changed ----------------------------------------------------------------------
    def _changes(self, last: Desired, commit: str) -> tuple[FileChange, ...] | None:
        """Files changed since ``last``; None when ``commit`` does not build on it."""
        if not self.repo.file_histories(commit, (), stop=last.commit).stopped:
            return None  # a rewritten branch: the histories read so far may be gone
        return self.repo.changed_paths(last.commit, commit, self._watched(last))

    def _watched(self, last: Desired) -> tuple[str, ...]:
        watched = {POLICY_FILE, *codeowners.LOCATIONS}
        if last.policy is not None:
            for env in last.policy.environments.values():
                root = env.overlay.split("{", 1)[0].rsplit("/", 1)[0]
                watched.add(root)
        for read in self._reads.values():
            watched |= read.depends
        return tuple(sorted(watched))

    # -- the policy --------------------------------------------------------------------------
    def _policy(self, view: ReadView, branch: str) -> tuple[Policy | None, tuple[str, ...]]:
        data = view.read(POLICY_FILE)
        if data is None:
            return self.last_good, (
                f"{POLICY_FILE} is missing on {branch} (commit {view.commit[:12]})",
            )
        result = load_policy(data, POLICY_FILE, tree=view)
        if result.policy is None:
            return self.last_good, tuple(str(d) for d in result.diagnostics)
        self.last_good = self.select(result.policy)
        return self.last_good, ()

    # -- overlays ----------------------------------------------------------------------------
    def _overlays(
        self,
        policy: Policy,
        view: ReadView,
        changes: tuple[FileChange, ...] | None,
        last: Desired | None,
    ) -> dict[Key, OverlayState]:
        touched = _Touched(changes or ())
        reads: dict[tuple[str, str, App], _Read] = {}
        fresh: dict[tuple[str, str, App], tuple[Environment, str]] = {}
        for env in policy.environments.values():
            for app in policy.apps_in(env.name):
                where = fill(env.overlay, app=app.name)
                key = (where, env.format, app)
                kept = self._reads.get(key)
                if changes is not None and kept is not None and not touched.any(kept.depends):
                    reads[key] = kept
                else:
                    fresh[key] = (env, where)
        if fresh:
            reads.update(self._read_fresh(fresh, view, changes, last))
        self._reads = reads
        return {
            (app.name, env.name): reads[(fill(env.overlay, app=app.name), env.format, app)].state
            for env in policy.environments.values()
            for app in policy.apps_in(env.name)
        }

    def _read_fresh(
        self,
        fresh: Mapping[tuple[str, str, App], tuple[Environment, str]],
        view: ReadView,
        changes: tuple[FileChange, ...] | None,
        last: Desired | None,
    ) -> dict[tuple[str, str, App], _Read]:
        """Read the overlays in ``fresh``: pins now, histories in (at most) two walks."""
        found: dict[tuple[str, str, App], tuple[str, ImagePin | None, frozenset[str]]] = {}
        out: dict[tuple[str, str, App], _Read] = {}
        for key, (env, where) in fresh.items():
            app = key[2]
            try:
                path = overlay_path(env, app, view)
                pin = self.pin(env.format, app, view, path)
            except ReconcilerError as exc:
                out[key] = _Read(OverlayState(where, None, error=str(exc)), frozenset({where}))
                continue
            except Exception as exc:  # one app's overlay must not stop the others
                error = f"internal error reading it ({type(exc).__name__})"
                out[key] = _Read(OverlayState(where, None, error=error), frozenset({where}))
                continue
            paths = {where, path, view.real_path(where), view.real_path(path)}
            found[key] = (path, pin, frozenset(p for p in paths if p is not None))
        # An overlay read before at the same file only needs the commits since then.
        extend = {
            key: old
            for key in found
            if changes is not None
            and last is not None
            and (old := self._reads.get(key)) is not None
            and old.state.error is None
            and old.state.path == found[key][0]
        }
        since = self._histories((found[k][0] for k in extend), view.commit, last)
        whole = self._histories((found[k][0] for k in found if k not in extend), view.commit)
        # One view per commit: a view keeps the folders it looked up, and the overlays of
        # one commit share most of them.
        views: dict[str, ReadView] = {view.commit: view}
        for key, (path, pin, depends) in found.items():
            env = fresh[key][0]
            if key in extend:
                new = self._facts(env, key[2], path, since.get(path, ()), views)
                history = (extend[key].state.history + new)[-HISTORY_DEPTH:]
            else:
                history = self._facts(env, key[2], path, whole.get(path, ()), views)
            newest = history[-1] if history else None
            state = OverlayState(
                path,
                pin,
                newest.commit if newest else None,
                newest.committed_at if newest else None,
                history,
            )
            out[key] = _Read(state, depends)
        return out

    def _histories(
        self, files: Iterable[str], commit: str, since: Desired | None = None
    ) -> Mapping[str, tuple[CommitInfo, ...]]:
        wanted = sorted(set(files))
        if not wanted:
            return {}
        stop = since.commit if since is not None else None
        return self.repo.file_histories(commit, wanted, HISTORY_DEPTH, stop=stop).files

    def _facts(
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

    def pin(self, fmt: str, app: App, view: ReadView, path: str) -> ImagePin | None:
        """The pin of ``app`` in the file at ``path``, parsed once per blob."""
        blob = view.blob_id(path)
        if blob is None:
            raise PolicyError(f"{path} does not exist")

        def parse() -> ImagePin | None:
            data = view.read(path)
            assert data is not None
            return pins.read_pin(fmt, data, path, app)

        # What is read depends on the app's image name (kustomize) or keys (Helm) too.
        return self._pins.get_or_parse(f"{blob}:{fmt}:{app.image_name}:{app.helm!r}", parse)


def overlay_path(env: Environment, app: App, view: ReadView) -> str:
    """The file that pins ``app`` in ``env``; PolicyError when there is none."""
    where = fill(env.overlay, app=app.name)
    if env.format == "helm":
        return where
    names = set(view.names(where))
    for name in KUSTOMIZATION_FILES:
        if name in names:
            return f"{where}/{name}"
    raise PolicyError(f"{where} has no kustomization.yaml")


class _Touched:
    """Changed paths, asked whether any of some paths changed (itself, inside or above)."""

    def __init__(self, changes: Iterable[FileChange]) -> None:
        self.paths = {change.path for change in changes}
        self.folders = {
            change.path.rsplit("/", depth)[0]
            for change in changes
            for depth in range(1, change.path.count("/") + 1)
        }

    def any(self, paths: Iterable[str]) -> bool:
        for path in paths:
            if path in self.paths or path in self.folders:
                return True
            parts = path.split("/")
            if any("/".join(parts[:i]) in self.paths for i in range(1, len(parts))):
                return True  # a file or link replaced a folder above it
        return False


def _any_under(changes: tuple[FileChange, ...], paths: Iterable[str]) -> bool:
    return _Touched(changes).any(paths)


def _policy_touched(
    changes: tuple[FileChange, ...], reads: Mapping[tuple[str, str, App], _Read]
) -> bool:
    """Whether the policy must be loaded again: it changed, or files other than known
    overlays were added, removed or relinked (the policy's tree checks may then differ)."""
    known = {read.state.path for read in reads.values() if read.state.error is None}
    for change in changes:
        if change.path in codeowners.LOCATIONS:
            continue
        if change.path == POLICY_FILE:
            return True
        if change.status != "modified" or change.path not in known:
            return True
    return False
