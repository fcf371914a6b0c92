"""The cache's bare clone of the config repo: cloned, fetched, deepened, and cloned again
when damaged (cacherepair.py judges the damage and swaps the clone)."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pygit2
from pygit2.enums import FetchPrune

from reconciler.errors import TransientError
from reconciler.gitrepo.credentials import Credentials
from reconciler.gitrepo.port import TransferWatch, UnknownCommit
from reconciler.gitrepo.pygit2_adapter import housekeeping
from reconciler.gitrepo.pygit2_adapter.cacherepair import ClonePlace
from reconciler.gitrepo.pygit2_adapter.callbacks import NETWORK_ERRORS, Callbacks
from reconciler.gitrepo.remote import RemoteUrl

log = logging.getLogger("reconciler.gitrepo")

DEPTH_KEY = "reconciler.depth"  # in the clone's config: how deep its history was fetched
_COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
_UNSHALLOW = 2147483647  # libgit2's GIT_FETCH_DEPTH_UNSHALLOW
_DEEPEST_SHALLOW = 10_000  # past this, fetching all history is simpler than deepening
REOPEN_AFTER = 8  # fetches that brought a pack, after which the repository is opened again


class Clone:
    """A bare clone, its remote and credentials; its callers hold the adapter's lock."""

    def __init__(
        self,
        repo: pygit2.Repository,
        remote: RemoteUrl,
        credentials: Credentials | None,
        environ: Mapping[str, str],
        *,
        place: ClonePlace | None = None,
        watch: TransferWatch | None = None,
    ) -> None:
        self.repo = repo
        self.remote = remote
        self.credentials = credentials
        self.environ = environ
        self.place = place
        self.watch = watch
        self.repairs = 0
        # Commits a local remote is known to hold whole (its refs' and our tracking refs'
        # tips at the first push after a fetch, and every commit pushed since): listing
        # every ref at each push made a cycle of N merges cost N x refs.
        self.complete: set[pygit2.Oid] = set()
        self._packs = 0  # fetches that brought objects since the repository was opened

    def commit(self, commit: str) -> pygit2.Commit:
        """The commit ``commit`` (a full id) in the clone; UnknownCommit if there is none."""
        return find_commit(self.repo, commit)

    def callbacks(self, lease: tuple[str, pygit2.Oid] | None = None) -> Callbacks:
        """Callbacks for one network operation, pushing under ``lease`` if given."""
        return Callbacks(self.credentials, self.environ, lease, self.watch)

    def fetch(self) -> None:
        """Bring every remote branch up to date (pruning deleted ones).

        A fetch that fails because the clone is damaged (not because the remote cannot be
        reached) repairs the clone and fetches again."""
        try:
            self.fetch_once(0, "fetching from")
        except TransientError:
            if not self.repair():
                raise  # the remote's failure, not the clone's
            self.fetch_once(0, "fetching from")
        self.tidy()

    def tidy(self) -> None:
        """Pack the clone's objects when git would (housekeeping.py), unless another
        process is writing in the cache folder now; a failure is logged, never raised (the
        objects stay where they were)."""
        place = self.place
        if place is None or not housekeeping.due(place.path):
            return
        try:
            with place.folder.alone() as alone:
                done = housekeeping.pack_apart(place.path) if alone else None
        except OSError as error:
            log.warning("could not pack the objects of %s: %s", place.path, error)
            return
        if done is None:
            return
        # The packs folded in are gone: libgit2 must not look for objects in them again.
        self.reopen()
        log.info(
            "packed the objects of the cache's clone: %d loose objects and %d packs "
            "(%.1f MB) into one pack of %.1f MB in %.1f s",
            done.loose,
            done.packs,
            done.bytes_before / 1e6,
            done.bytes_after / 1e6,
            done.seconds,
        )

    def fetch_once(self, depth: int, action: str, *, big: bool = False) -> None:
        """One fetch of every branch, ``depth`` commits deep (0: as deep as the clone is).
        ``big``: a clone or a deepening, tens of thousands of objects, whose progress a
        thread reads (a cycle's fetch brings a few, and starting a thread for it would cost
        an idle cycle half its CPU time)."""
        self.complete.clear()  # read again from the refs at the next push
        local = self.remote.local_path
        if local is not None and not local.is_dir():
            # libgit2 reports a missing path as an "unsupported URL protocol"
            raise TransientError(
                f"{action} {self.remote.display} failed: there is no repository at that "
                "path; check the path (it will be retried next cycle)"
            )
        callbacks = self.callbacks()
        try:
            origin = self.repo.remotes["origin"]
            polled = origin if big else None
            with self.writing(), callbacks.watching(action, self.remote.display, polled):
                stats = origin.fetch(callbacks=callbacks, prune=FetchPrune.PRUNE, depth=depth)
        except NETWORK_ERRORS as error:
            raise callbacks.failure(action, self.remote.display, error) from None
        if stats.received_objects:
            self._packs += 1
            if self._packs >= REOPEN_AFTER:
                self.reopen()

    def reopen(self) -> None:
        """Open the clone's repository again: libgit2 keeps, for every pack file a fetch
        brought, that pack's inflated delta bases (up to 16 MB each) while the repository
        is open; a daemon fetching for weeks would hold them all (at 10,000 apps, 1.2 MB
        more with each push)."""
        path = self.repo.path
        # Let go of the packs now, even while objects read from the old one live on.
        self.repo.free()
        self.repo = pygit2.Repository(path)
        self._packs = 0

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Held while libgit2 may have lock files in the clone: no one else clears them."""
        return self.place.folder.writing() if self.place else contextlib.nullcontext()

    def repair(self) -> bool:
        """Repair the clone if it is damaged; False when it is whole."""
        place = self.place
        if place is None:
            return False
        cleared, damage = place.examine(self.remote.url, DEPTH_KEY)
        if cleared:
            self.repaired(cleared)
        if damage is None:
            return cleared is not None
        make = functools.partial(
            Clone,
            remote=self.remote,
            credentials=self.credentials,
            environ=self.environ,
            watch=self.watch,
        )
        repaired = reclone(make, self.remote, place, damage)
        self.repo = pygit2.Repository(str(place.path))
        self.repaired(repaired)
        return True

    def repaired(self, what: str) -> None:
        """Count and log a repair of the clone."""
        self.repairs += 1
        log.warning("repaired the cache of %s: %s", self.remote.display, what)

    def first_fetch(self, depth: int) -> None:
        """The fetch that makes a new clone, ``depth`` commits deep (0: all history)."""
        try:
            self.fetch_once(depth, "cloning", big=True)
        except TransientError as error:
            if depth == 0 or "shallow" not in str(error):
                raise
            depth = 0  # a server without shallow support: take the whole history
            self.fetch_once(depth, "cloning", big=True)
        self.repo.config[DEPTH_KEY] = str(depth)

    def shallow_roots(self) -> frozenset[str]:
        """The commits a shallow clone has without their parents (none when it is whole)."""
        return shallow_roots(self.repo)

    def deepen(self, walked: int) -> None:
        """Fetch more history after a walk of ``walked`` commits reached a shallow root."""
        try:
            depth = int(self.repo.config[DEPTH_KEY] or 0)
        except (KeyError, ValueError):
            depth = 0
        target = max(depth, walked) * 4
        if target == 0 or target > _DEEPEST_SHALLOW or depth == _UNSHALLOW:
            target = _UNSHALLOW
        self.fetch_once(target, "deepening the history from", big=True)
        with self.writing():
            self.repo.config[DEPTH_KEY] = str(target)
        self.reopen()  # libgit2 keeps boundary commits parsed without parents in its cache
        if target == _UNSHALLOW and self.shallow_roots():
            raise TransientError(
                f"the config repo {self.remote.display} did not send its full history; "
                "history-based gates cannot be evaluated until it does"
            )


def find_commit(repo: pygit2.Repository, commit: str) -> pygit2.Commit:
    """The commit ``commit`` (a full id) in ``repo``; UnknownCommit if there is none."""
    if not _COMMIT_ID.match(commit):
        raise UnknownCommit(commit)
    found = repo.get(commit)
    if not isinstance(found, pygit2.Commit):
        raise UnknownCommit(commit)
    return found


def shallow_roots(repo: pygit2.Repository) -> frozenset[str]:
    """The commits a shallow clone has without their parents (none when it is whole)."""
    try:
        text = (Path(repo.path) / "shallow").read_text()
    except FileNotFoundError:
        return frozenset()
    return frozenset(text.split())


def new_clone(
    make: Callable[[pygit2.Repository], Clone], remote: RemoteUrl, place: ClonePlace
) -> Path:
    """A new full clone of ``remote`` in a scratch folder next to its place in the cache."""
    scratch = place.scratch()
    try:
        repo = pygit2.init_repository(str(scratch), bare=True)
        repo.remotes.create("origin", remote.url)
        make(repo).first_fetch(place.depth)
        repo.free()
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return scratch


def reclone(
    make: Callable[[pygit2.Repository], Clone], remote: RemoteUrl, place: ClonePlace, damage: str
) -> str:
    """Clone again in place of a damaged clone (kept aside); what was repaired."""
    try:
        scratch = new_clone(make, remote, place)
    except TransientError as error:  # the damaged clone stays until a new one is made
        raise TransientError(f"the clone in {place.path} is damaged ({damage}); {error}") from None
    return place.install(scratch, damage) or damage
