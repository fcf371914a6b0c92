"""What git says should run: the policy in force, every overlay's pin and the commits that
changed it (their pins are read where a plan looks: pinfacts.Windows), and CODEOWNERS, at
one commit of the base branch, read incrementally.

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

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler import codeowners, collector, partfiles, pinworkers
from reconciler.errors import PolicyError, ReconcilerError
from reconciler.gitrepo.port import CommitInfo, ConfigRepo, FileChange, ReadView
from reconciler.model import KUSTOMIZATION_FILES
from reconciler.overlays.imageref import ImagePin
from reconciler.partfiles import Layout
from reconciler.pinfacts import HISTORY_DEPTH, PinFacts, merged_histories
from reconciler.policy import POLICY_FILE, Policy, load_policy
from reconciler.policy.model import App, Environment
from reconciler.policy.values import fill
from reconciler.revisions import Revision
from reconciler.snapshot import Key, OverlayState

# What a read depends on besides the files: the overlay folder (or file), the format, and
# what of the app the format reads. A string, since str caches its hash and a frozen
# dataclass does not (a 1,000-app cycle looks keys up thousands of times).
# What one read is: the file's folder, format, image name and Helm keys (a tuple: the
# strings are shared with the policy, where a joined string cost 7 MB at 10,000 apps).
_ReadKey = tuple[str, str, str, object]


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
    # As asked and as resolved through symlinks, each once (a tuple: 30,000 reads' sets
    # cost 4 MB more).
    depends: tuple[str, ...]
    commits: tuple[CommitInfo, ...] = ()  # that changed the file, newest first (the window)


class DesiredReader:
    """Reads ``Desired`` for successive commits, re-reading only what changed."""

    def __init__(
        self,
        repo: ConfigRepo,
        select: Callable[[Policy], Policy] = lambda policy: policy,
        *,
        pin_file: Path | None = None,
    ) -> None:
        """``select`` narrows every loaded policy (a shard keeps its own apps);
        ``pin_file`` keeps parsed pins for the next process (reconciler.pinstore)."""
        self.repo = repo
        self.select = select
        self.last_good: Policy | None = None
        self.pins = PinFacts(repo, pin_file)
        self._last: Desired | None = None
        self._reads: dict[_ReadKey, _Read] = {}
        # Which reads depend on a path, to find the stale ones from a diff without asking
        # every read; the folders above those paths, to notice a folder replaced whole.
        # path -> the reads that depend on it; tuples, not sets: at 10,000 apps there are
        # 60,000 paths, nearly all with one read (a set each cost 12 MB more).
        self._index: dict[str, tuple[_ReadKey, ...]] = {}
        self._folders: set[str] = set()
        self._watched: tuple[str, ...] | None = None  # what the next diff looks at
        self._layout: tuple[Policy | None, list[tuple[Key, _ReadKey, Environment, str, App]]] = (
            None,
            [],
        )
        self._where: dict[_ReadKey, tuple[Environment, str, App]] = {}
        self._pairs_of: dict[_ReadKey, tuple[Key, ...]] = {}  # the (app, env) pairs a read serves
        # Paths of the overlays read without error, with how many reads use each.
        self._known: dict[str, int] = {}
        self.full_reads = 0  # how many reads could not build on the last one (for tests)
        # A full read's worker process (pinworkers), started before the policy is loaded
        # (its start then overlaps loading it), ended with the read.
        self._worker: pinworkers.Worker | None = None

    def read(self, commit: str, branch: str) -> Desired:
        """The desired state at ``commit`` of ``branch``."""
        last = self._last
        if last is not None and last.commit == commit:
            return last
        view = self.repo.tree(commit)
        changes = self._changes(last, commit) if last is not None else None
        full = changes is None
        with collector.paused() if full else contextlib.nullcontext():
            if full:
                self.full_reads += 1
                self._reads, self._index, self._folders, self._watched = {}, {}, set(), None
                self._known = {}
                self._worker = pinworkers.start(_files_hint(view.read(POLICY_FILE)))
            try:
                return self._read(view, commit, branch, last, changes)
            finally:
                if self._worker is not None:
                    self._worker.close()
                    self._worker = None

    def _read(
        self,
        view: ReadView,
        commit: str,
        branch: str,
        last: Desired | None,
        changes: tuple[FileChange, ...] | None,
    ) -> Desired:
        if changes is None or last is None or _policy_touched(changes, self._known, view):
            policy, errors = self._policy(view, branch)
            self._watched = None  # the overlay roots may have moved
        else:
            policy, errors = last.policy, last.errors
        if changes is None or last is None or _any_under(changes, codeowners.LOCATIONS):
            owners = codeowners.find(view.read)
        else:
            owners = last.owners
        overlays = self._overlays(policy, view, changes, last) if policy is not None else Revision()
        self._last = Desired(commit, policy, errors, overlays, owners)
        return self._last

    # -- what changed ----------------------------------------------------------------------
    def _changes(self, last: Desired, commit: str) -> tuple[FileChange, ...] | None:
        """Files changed since ``last``; None when ``commit`` does not build on it."""
        if not self.repo.file_histories(commit, (), stop=last.commit).stopped:
            return None  # a rewritten branch: the histories read so far may be gone
        if self._watched is None:
            self._watched = self._watch(last.policy)
        return self.repo.changed_paths(last.commit, commit, self._watched)

    def _watch(self, policy: Policy | None) -> tuple[str, ...]:
        """The policy, CODEOWNERS, each environment's overlay root, and any path an overlay
        was resolved through outside those roots (a symlink's target)."""
        roots = {POLICY_FILE, *codeowners.LOCATIONS}
        if policy is not None:
            roots |= {
                env.overlay.split("{", 1)[0].rsplit("/", 1)[0]
                for env in policy.environments.values()
            }
        if "" in roots:
            return ("",)
        inside = tuple(root + "/" for root in roots)  # str.startswith(tuple): one C call
        outside = {
            path for path in self._index if path not in roots and not path.startswith(inside)
        }
        return tuple(sorted(roots | outside))

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
    ) -> Revision[Key, OverlayState]:
        layout = self._layout_of(policy)
        stale = self._stale(changes) if changes is not None else None
        if (
            stale is not None
            and last is not None
            and last.policy is policy
            and isinstance(last.overlays, Revision)
        ):
            # The same policy: only the reads a change touched are made again (a push that
            # changes one overlay of 30,000 costs one read, not a walk of all of them).
            fresh = {key: self._where[key] for key in stale if key in self._where}
            if not fresh:
                return last.overlays
            made = self._read_fresh(fresh, view, changes, last)
            self._reindex(made, fresh)
            self._reads.update(made)
            return last.overlays.derive(
                {pair: made[key].state for key in made for pair in self._pairs_of[key]}
            )
        reads: dict[_ReadKey, _Read] = {}
        fresh = {}
        for _, key, env, where, app in layout:
            kept = self._reads.get(key)
            if stale is not None and kept is not None and key not in stale:
                reads[key] = kept
            else:
                fresh[key] = (env, where, app)
        if fresh:
            reads.update(self._read_fresh(fresh, view, changes, last))
        gone = self._reads.keys() - reads.keys() if len(reads) != len(self._reads) else set()
        self._reindex(reads, {*fresh, *gone})
        self._reads = reads
        return Revision({pair: reads[key].state for pair, key, _, _, _ in layout})

    def _layout_of(self, policy: Policy) -> list[tuple[Key, _ReadKey, Environment, str, App]]:
        """Each (app, env) of ``policy`` with its read key and overlay folder, made once
        per policy object (filling templates for every pair every cycle adds up)."""
        if self._layout[0] is not policy:
            made: list[tuple[Key, _ReadKey, Environment, str, App]] = []
            for env in policy.environments.values():
                for app in policy.apps_in(env.name):
                    where = fill(env.overlay, app=app.name)
                    read: _ReadKey = (where, env.format, app.read_as, app.helm)
                    made.append(((app.name, env.name), read, env, where, app))
            self._layout = (policy, made)
            self._where = {key: (env, where, app) for _, key, env, where, app in made}
            pairs_of: dict[_ReadKey, list[Key]] = {}
            for pair, read, _, _, _ in made:
                pairs_of.setdefault(read, []).append(pair)
            self._pairs_of = {read: tuple(pairs) for read, pairs in pairs_of.items()}
        return self._layout[1]

    def _stale(self, changes: tuple[FileChange, ...]) -> set[_ReadKey]:
        """The reads that a change is at, inside or above one of the paths they depend on."""
        found: set[_ReadKey] = set()
        for change in changes:
            path = change.path
            parts = path.split("/")
            for depth in range(len(parts), 0, -1):
                found.update(self._index.get("/".join(parts[:depth]), ()))
            if path in self._folders:  # a file or link where a folder the reads use was
                prefix = path + "/"
                for depends, keys in self._index.items():
                    if depends.startswith(prefix):
                        found.update(keys)
        return found

    def _reindex(self, reads: Mapping[_ReadKey, _Read], keys: Iterable[_ReadKey]) -> None:
        for key in keys:
            old = self._reads.get(key)
            for path in old.depends if old is not None else ():
                kept = self._index.get(path, ())
                if key in kept:
                    self._index[path] = tuple(k for k in kept if k != key)
            if old is not None and old.state.error is None:
                for path in old.state.files:
                    self._count(path, -1)
            new = reads.get(key)
            for path in new.depends if new is not None else ():
                if path not in self._index:
                    self._watched = None  # a new path may lie outside the watched roots
                kept = self._index.get(path, ())
                if key not in kept:
                    self._index[path] = (*kept, key)
                folder = path.rpartition("/")[0]
                while folder and folder not in self._folders:  # the ones above it are in too
                    self._folders.add(folder)
                    folder = folder.rpartition("/")[0]
            if new is not None and new.state.error is None:
                for path in new.state.files:
                    self._count(path, 1)

    def _count(self, path: str, by: int) -> None:
        left = self._known.get(path, 0) + by
        if left > 0:
            self._known[path] = left
        else:
            self._known.pop(path, None)

    def _read_fresh(
        self,
        fresh: Mapping[_ReadKey, tuple[Environment, str, App]],
        view: ReadView,
        changes: tuple[FileChange, ...] | None,
        last: Desired | None,
    ) -> dict[_ReadKey, _Read]:
        """Read the overlays in ``fresh``: pins now, histories in (at most) two walks; with
        the worker of a read of thousands (``read`` ends it), if one would pay."""
        if self._worker is None:
            self._worker = pinworkers.start(len(fresh))
        worker = self._worker
        found: dict[_ReadKey, tuple[str, Layout, ImagePin | None, tuple[str, ...]]] = {}
        out: dict[_ReadKey, _Read] = {}
        warmed, pinned, walking = self._warm(fresh, view, worker) if worker else ({}, {}, dict)
        for key, (env, where, app) in fresh.items():
            files: Layout = ()
            try:
                path = warmed.get(key) or overlay_path(env, app, view)
                if app.images and app.has_part_files:
                    found_in = partfiles.groups(env.format, path, app, view.names)
                    files = partfiles.layout(found_in, path)
                    pin = self.pins.unit_pin(env.format, app, view, files)
                elif key in pinned:
                    pin = pinned[key]
                else:
                    pin = self.pins.pin(env.format, app, view, path)
            except ReconcilerError as exc:
                out[key] = _Read(OverlayState(path=where, pin=None, error=str(exc)), (where,))
                continue
            except Exception as exc:  # one app's overlay must not stop the others
                error = f"internal error reading it ({type(exc).__name__})"
                out[key] = _Read(OverlayState(path=where, pin=None, error=error), (where,))
                continue
            paths = [where, path, view.real_path(where), view.real_path(path)]
            for other, _ in files:  # a unit's part files: an edit of one replans the app
                paths += (other, view.real_path(other))
            depends = tuple(dict.fromkeys(p for p in paths if p is not None))
            found[key] = (path, files, pin, depends)
        # An overlay read before at the same file only needs the commits since then.
        extend = {
            key: old
            for key in found
            if changes is not None
            and last is not None
            and (old := self._reads.get(key)) is not None
            and old.state.error is None
            and old.state.path == found[key][0]
            and old.state.part_files == found[key][1]
        }
        since = self._histories((f for k in extend for f in _files(found[k])), view.commit, last)
        walked = walking()  # the worker's walk, done by now or soon
        rest = (f for k in found if k not in extend for f in _files(found[k]) if f not in walked)
        whole = {**walked, **self._histories(rest, view.commit)}
        for key, (path, files, pin, depends) in found.items():
            got = since if key in extend else whole
            if files:  # a unit's part files: the commits that changed any of them
                new = merged_histories([got.get(f, ()) for f, _ in files], HISTORY_DEPTH)
            else:
                new = tuple(got.get(path, ()))
            commits = (new + extend[key].commits)[:HISTORY_DEPTH] if key in extend else new
            # Only the newest commit's pin is known without parsing (the file as it is);
            # older ones are read where a plan looks at them (PinFacts.complete): at a cold
            # start of 10,000 apps, every overlay's history would otherwise be parsed.
            newest = commits[0] if commits else None
            state = OverlayState(
                path=path,
                pin=pin,
                commit=newest.id if newest else None,
                changed_at=newest.time if newest else None,
                history=(self.pins.newest(newest, pin),) if newest else (),
                unread=commits[1:],
                part_files=files,
            )
            out[key] = _Read(state, depends, commits)
        return out

    def _warm(
        self,
        fresh: Mapping[_ReadKey, tuple[Environment, str, App]],
        view: ReadView,
        worker: pinworkers.Worker,
    ) -> tuple[
        dict[_ReadKey, str],
        dict[_ReadKey, ImagePin | None],
        Callable[[], Mapping[str, tuple[CommitInfo, ...]]],
    ]:
        """For thousands of reads (a cold start, `status`): each read's file and pin, and
        the histories of those files walked by ``worker`` while this process reads the files
        and both parse them (reconciler.pinworkers); the histories come from the function
        given back, which waits for the walk. A read that fails here is left to the caller,
        which words its error."""
        files: dict[_ReadKey, str] = {}
        for key, (env, _, app) in fresh.items():
            try:
                files[key] = overlay_path(env, app, view)
            except Exception:  # read again by the caller, which words the error
                continue
        wanted = sorted(set(files.values()))
        task = self.repo.file_histories_task(view.commit, wanted, HISTORY_DEPTH)
        walk = worker.run(task) if task is not None else None
        pinned = self.pins.warm(
            {
                key: (env.format, app, view, files[key])
                for key, (env, _, app) in fresh.items()
                if key in files
            },
            worker,
        )

        def walked() -> Mapping[str, tuple[CommitInfo, ...]]:
            done = pinworkers.outcome(walk, lambda: None) if walk is not None else None
            return done.files if done is not None else {}

        return files, pinned, walked

    def _histories(
        self, files: Iterable[str], commit: str, since: Desired | None = None
    ) -> Mapping[str, tuple[CommitInfo, ...]]:
        wanted = sorted(set(files))
        if not wanted:
            return {}
        stop = since.commit if since is not None else None
        return self.repo.file_histories(commit, wanted, HISTORY_DEPTH, stop=stop).files


class Folders(Protocol):
    """What ``overlay_path`` reads of a tree: a commit's (``ReadView``) or a work tree's."""

    def names(self, path: str) -> tuple[str, ...]:
        """The entry names of the folder at ``path``; empty when it is no folder."""
        ...


def _files_hint(policy: bytes | None) -> int:
    """About how many overlays ``policy`` names, from its text alone (before it is parsed,
    to start a worker early): apps' tables times environments' tables; 0 for a policy that
    writes its apps another way (the worker then starts with the overlays' read)."""
    if not policy:
        return 0
    return policy.count(b"\n[apps.") * policy.count(b"\n[environments.")


def overlay_path(env: Environment, app: App, view: Folders) -> str:
    """The file that pins ``app`` in ``env``; PolicyError when there is none."""
    where = fill(env.overlay, app=app.name)
    if env.format == "helm":
        return where
    names = set(view.names(where))
    for name in KUSTOMIZATION_FILES:
        if name in names:
            return f"{where}/{name}"
    raise PolicyError(f"{where} has no kustomization.yaml")


def _files(found: tuple[str, Layout, ImagePin | None, tuple[str, ...]]) -> Iterable[str]:
    """The files a read's history covers: its overlay file, or a unit's part files."""
    return [path for path, _ in found[1]] if found[1] else (found[0],)


def _any_under(changes: tuple[FileChange, ...], paths: Iterable[str]) -> bool:
    """Whether a change is at one of ``paths`` or at a folder above one."""
    wanted = tuple(paths)
    return any(
        change.path == path or path.startswith(change.path + "/")
        for change in changes
        for path in wanted
    )


def _policy_touched(
    changes: tuple[FileChange, ...], known: Mapping[str, int], view: ReadView
) -> bool:
    """Whether the policy must be loaded again: it changed, or files other than known
    overlays were added, removed or relinked (the policy's tree checks may then differ).

    Only edits of known overlay files that are still plain files at their own path leave
    it be: a file turned into a symlink is "modified" in a diff too, and may now lead out
    of the repo, which the policy's checks refuse.
    """
    for change in changes:
        if change.path in codeowners.LOCATIONS:
            continue
        if change.status != "modified" or change.path not in known:
            return True  # the policy file itself among them
        if view.real_path(change.path) != change.path:
            return True
    return False
