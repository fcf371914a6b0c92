"""Pygit2ConfigRepo, the port ConfigRepo over a bare clone in a cache folder, one lock held
around each call; the package's other modules do the work.

The clone is reused across restarts and nothing is ever checked out: reads go straight to
commit trees, writes build trees bottom-up from the parent's and push with a lease.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pygit2

from reconciler.gitrepo import updating
from reconciler.gitrepo.blobcache import BlobCache
from reconciler.gitrepo.credentials import Credentials
from reconciler.gitrepo.port import (
    CommitInfo,
    CommitSigner,
    Edit,
    FileChange,
    FileHistories,
    PushOutcome,
    ReadView,
    Signature,
    TransferWatch,
)
from reconciler.gitrepo.pygit2_adapter import histories, merge, refs, trees
from reconciler.gitrepo.pygit2_adapter.cacherepair import CacheFolder, ClonePlace
from reconciler.gitrepo.pygit2_adapter.callbacks import NETWORK_ERRORS
from reconciler.gitrepo.pygit2_adapter.clone import DEPTH_KEY, Clone, new_clone, reclone
from reconciler.gitrepo.pygit2_adapter.commits import info
from reconciler.gitrepo.pygit2_adapter.treeview import TreeView
from reconciler.gitrepo.pygit2_adapter.writer import Writer
from reconciler.gitrepo.remote import RemoteUrl, parse_remote
from reconciler.gitrepo.trailers import Trailer

# libgit2's defaults suit a short-lived git command, not a daemon fetching every few
# seconds for weeks: a 256 MB object cache, 8 GB of mapped pack windows, and every pack
# file a fetch brings kept open. These bounds keep a daemon's memory flat (see
# docs/benchmarks.md); cached objects and pack windows are re-read on demand past them.
# (libgit2 caches no tree over 4 KB, so a folder of 10,000 overlays is parsed again at each
# look into it, about 1 ms. Caching such trees, within 16 MB, saved that, but the cache then
# filled over hundreds of cycles: RSS grew 3-5 MB per 200 cycles, at 1,000 apps too. A
# commit's view keeps the folders it looked into instead, each parsed once per view.)
pygit2.settings.cache_max_size(32 * 1024 * 1024)
pygit2.settings.mwindow_mapped_limit = 128 * 1024 * 1024
pygit2.settings.mwindow_file_limit = 64
_VIEWS = 8  # recent commits' views: the base tip's, and a few requests' heads and parents
_CHANGES = 4096  # comparisons of two commits' trees: a few per open request


class Pygit2ConfigRepo:
    """A ConfigRepo over a bare clone in a cache folder; thread-safe (one lock)."""

    def __init__(  # noqa: PLR0913 the clone, then options, all keyword-only
        self,
        repo: pygit2.Repository,
        *,
        remote: RemoteUrl,
        credentials: Credentials | None,
        environ: Mapping[str, str],
        max_attempts: int,
        cache: ClonePlace | None = None,
        watch: TransferWatch | None = None,
        signer: CommitSigner | None = None,
    ) -> None:
        self._clone = Clone(repo, remote, credentials, environ, place=cache, watch=watch)
        self._max_attempts = max_attempts
        self._lock = threading.RLock()
        self._writer = Writer(self._clone, self._lock, signer)
        # Commits never change, so views and comparisons of recent ones are kept: each open
        # request's check reads the base tip's files and compares its head with its parent
        # (twice with the local forge); a new view of a folder of 10,000 overlays parses it
        # again, about 1 ms a read.
        self._views: BlobCache[TreeView] = BlobCache(max_entries=_VIEWS)
        self._changes: BlobCache[tuple[FileChange, ...]] = BlobCache(max_entries=_CHANGES)

    @classmethod
    def open(  # noqa: PLR0913 the remote and cache, then options, all keyword-only
        cls,
        url: str,
        cache_dir: Path,
        *,
        credentials: Credentials | None = None,
        depth: int = 50,
        max_attempts: int = 5,
        timeout: float | None = 60.0,
        environ: Mapping[str, str] | None = None,
        watch: TransferWatch | None = None,
        signer: CommitSigner | None = None,
    ) -> Pygit2ConfigRepo:
        """Clone ``url`` into ``cache_dir`` on first use, else reuse that clone and fetch.

        ``depth`` > 0 makes the first clone shallow; local paths and ``file://`` remotes are
        always cloned in full, because libgit2's local transport cannot fetch shallow.
        History walks deepen a shallow clone as far as they need. ``timeout`` (seconds)
        sets libgit2's process-wide connect and read timeouts. A damaged clone is set aside
        and cloned again. ``watch`` is told how every clone and fetch progresses. With
        ``signer``, every commit the adapter writes is signed (and none is written when it
        cannot sign).
        """
        remote = parse_remote(url)
        if timeout is not None:
            pygit2.settings.server_connect_timeout = int(timeout * 1000)
            pygit2.settings.server_timeout = int(timeout * 1000)
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = ClonePlace(
            cache_dir / remote.cache_name(),
            CacheFolder(cache_dir),
            0 if remote.is_local else depth,
        )
        env = os.environ if environ is None else environ
        clone_of = functools.partial(
            Clone, remote=remote, credentials=credentials, environ=env, place=cache, watch=watch
        )
        make = functools.partial(
            cls,
            remote=remote,
            credentials=credentials,
            environ=env,
            max_attempts=max_attempts,
            cache=cache,
            watch=watch,
            signer=signer,
        )
        if not (cache.path.exists() or cache.path.is_symlink()):
            cache.install(new_clone(clone_of, remote, cache), None)
            return make(pygit2.Repository(str(cache.path)))
        cleared, damage = cache.examine(remote.url, DEPTH_KEY)
        if damage is not None:
            repaired = reclone(clone_of, remote, cache, damage)
            adapter = make(pygit2.Repository(str(cache.path)))
            adapter._clone.repaired(repaired)
            return adapter
        adapter = make(pygit2.Repository(str(cache.path)))
        if cleared:
            adapter._clone.repaired(cleared)
        adapter.fetch()
        return adapter

    @property
    def cache_repairs(self) -> int:
        """How many times this adapter found its clone damaged and repaired it (lock files a
        killed process left removed, or a damaged clone set aside and cloned again)."""
        return self._clone.repairs

    def _writing(self) -> contextlib.AbstractContextManager[None]:
        """The cache folder's shared flock, as a fetch holds it (a test plays another daemon
        caught mid-fetch with it)."""
        return self._clone.writing()

    # -- reads ---------------------------------------------------------------------------

    def fetch(self) -> None:
        """Bring every remote branch up to date (pruning deleted ones).

        A fetch that fails because the clone is damaged (not because the remote cannot be
        reached) repairs the clone and fetches again."""
        with self._lock:
            self._clone.fetch()

    def tip(self, branch: str) -> str | None:
        """The commit ``branch`` pointed to at the last fetch, or None."""
        with self._lock:
            return refs.tracked(self._clone.repo, branch)

    def branches(self, prefix: str = "") -> dict[str, str]:
        """Remote branches starting with ``prefix``, with their commits."""
        with self._lock:
            return refs.tracked_branches(self._clone.repo, prefix)

    def tree(self, commit: str) -> ReadView:
        """The files of ``commit``."""
        with self._lock:
            found = self._clone.commit(commit)
            # Keyed by the clone too: a repaired clone is another repository.
            key = f"{id(self._clone.repo)}:{found.id}"
            return self._views.get_or_parse(key, lambda: TreeView(self._lock, found))

    def read(self, commit: str, path: str) -> bytes | None:
        """The bytes of ``path`` at ``commit``, or None."""
        return self.tree(commit).read(path)

    def blob_id(self, commit: str, path: str) -> str | None:
        """The blob id of ``path`` at ``commit``, or None."""
        return self.tree(commit).blob_id(path)

    def changed_paths(
        self, old: str | None, new: str, prefixes: Sequence[str] | None = None
    ) -> tuple[FileChange, ...]:
        """Files that differ between two commits under ``prefixes``, descending only where
        subtree ids differ."""
        with self._lock:
            new_tree = self._clone.commit(new).tree
            old_tree = self._clone.commit(old).tree if old is not None else None
            key = f"{old_tree.id if old_tree else ''}:{new_tree.id}:{prefixes!r}"
            repo = self._clone.repo
            return self._changes.get_or_parse(
                key, lambda: trees.file_changes(old_tree, new_tree, prefixes, repo)
            )

    def commit_info(self, commit: str) -> CommitInfo:
        """Metadata and trailers of ``commit``."""
        with self._lock:
            return info(self._clone.commit(commit))

    def merged_file(self, ancestor: str, ours: str, theirs: str, path: str) -> bytes | None:
        """``path`` in libgit2's three-way merge of the two commits' trees (its folder only)."""
        with self._lock:
            return merge.merged_file(self._clone, ancestor, ours, theirs, path)

    def history(
        self, commit: str, path: str, limit: int = 20, *, first_parent: bool = False
    ) -> tuple[CommitInfo, ...]:
        """Commits from ``commit`` that changed ``path``, newest first, deepening if shallow."""
        with self._lock:
            return histories.file_history(
                self._clone, commit, path, limit, first_parent=first_parent
            )

    def file_histories(
        self, commit: str, files: Iterable[str], limit: int = 20, stop: str | None = None
    ) -> FileHistories:
        """Many files' first-parent histories in one walk, deepening if shallow."""
        with self._lock:
            return histories.file_histories(self._clone, commit, files, limit, stop)

    def file_histories_task(
        self, commit: str, files: Sequence[str], limit: int = 20
    ) -> Callable[[], FileHistories | None] | None:
        """``file_histories`` on this clone, opened afresh by another process."""
        with self._lock:
            path = str(self._clone.repo.path)
        return functools.partial(histories.walk_at, path, commit, tuple(files), limit)

    def remote_tip(self, branch: str) -> str | None:
        """The remote's ``branch`` now, without a fetch: the ref itself for a remote on
        this machine, else the remote's list of refs."""
        ref = f"refs/heads/{refs.branch_name(branch)}"
        with self._lock:
            clone = self._clone
            local = clone.remote.local_path
            if local is not None:
                return refs.local_ref(local, ref)
            callbacks = clone.callbacks()
            try:
                heads = clone.repo.remotes["origin"].list_heads(callbacks=callbacks)
            except NETWORK_ERRORS as error:
                raise callbacks.failure(
                    "reading a branch of", clone.remote.display, error
                ) from None
            return next((str(head.oid) for head in heads if head.name == ref), None)

    # -- writes --------------------------------------------------------------------------

    def update_branch(
        self,
        branch: str,
        edit: Edit,
        *,
        message: str,
        author: Signature,
        committer: Signature,
        trailers: Sequence[Trailer] = (),
    ) -> PushOutcome:
        """Fast-forward ``branch`` with ``edit``'s changes; re-run the edit after a lost race."""
        with self._lock:
            return updating.update_branch(
                self._writer,
                refs.branch_name(branch),
                edit,
                message=message,
                author=author,
                committer=committer,
                trailers=trailers,
                max_attempts=self._max_attempts,
            )

    def replace_branch(  # noqa: PLR0913 the port's signature (gitrepo.port.ConfigRepo)
        self,
        branch: str,
        edit: Edit,
        *,
        base: str,
        expected_old: str | None,
        message: str,
        author: Signature,
        committer: Signature,
        trailers: Sequence[Trailer] = (),
    ) -> PushOutcome:
        """Force ``branch`` to one commit on ``base`` if it is still at ``expected_old``."""
        with self._lock:
            return updating.replace_branch(
                self._writer,
                refs.branch_name(branch),
                edit,
                base=base,
                expected_old=expected_old,
                message=message,
                author=author,
                committer=committer,
                trailers=trailers,
            )
