"""The config repo through pygit2 (libgit2): the one module of the project that imports it.

The clone is a bare repository in a cache folder, reused across restarts; nothing is ever
checked out. A damaged clone is set aside and cloned again (cacherepair.py). Reads go
straight to commit trees; writes build trees bottom-up from the parent's and push with a
lease (docs/decisions/0003-git-push-lease.md); a remote on this machine is written by
localpush.py, crash-safe.

Credentials travel only through libgit2's callbacks: the stored remote URL and the clone's
config never hold a secret, and error messages name where a secret comes from, never it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pygit2
from pygit2.enums import CredentialType, FetchPrune, FileMode

from reconciler.errors import PermanentError, PolicyError, ReconcilerError, TransientError
from reconciler.gitrepo import history, paths, updating
from reconciler.gitrepo.credentials import (
    Credentials,
    HttpsToken,
    HttpsTokenSource,
    SshAgent,
    SshKey,
    read_passphrase,
    read_token,
)
from reconciler.gitrepo.port import (
    CommitInfo,
    Edit,
    FileChange,
    FileHistories,
    PushOutcome,
    ReadView,
    Signature,
    UnknownCommit,
    check_writable,
)
from reconciler.gitrepo.pygit2_adapter import cacherepair, localpush
from reconciler.gitrepo.pygit2_adapter.cacherepair import ClonePlace as _Cache
from reconciler.gitrepo.remote import RemoteUrl, parse_remote
from reconciler.gitrepo.trailers import Trailer, parse_trailers
from reconciler.model import EntryKind

# libgit2's defaults suit a short-lived git command, not a daemon fetching every few
# seconds for weeks: a 256 MB object cache, 8 GB of mapped pack windows, and every pack
# file a fetch brings kept open. These bounds keep a daemon's memory flat (see
# docs/benchmarks.md); cached objects and pack windows are re-read on demand past them.
pygit2.settings.cache_max_size(32 * 1024 * 1024)
pygit2.settings.mwindow_mapped_limit = 128 * 1024 * 1024
pygit2.settings.mwindow_file_limit = 64

log = logging.getLogger("reconciler.gitrepo")

_TRACKING = "refs/remotes/origin/"
_COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
_ZERO = pygit2.Oid(hex="0" * 40)
_UNSHALLOW = 2147483647  # libgit2's GIT_FETCH_DEPTH_UNSHALLOW
_DEEPEST_SHALLOW = 10_000  # past this, fetching all history is simpler than deepening
_DEPTH_KEY = "reconciler.depth"
_KINDS = (
    (CredentialType.USERPASS_PLAINTEXT, "an HTTPS token"),
    (CredentialType.SSH_KEY, "an SSH key"),
)
# Push rejections that mean "someone else updated the ref first"; any other is a refusal.
_RACE_WORDS = ("failed to update ref", "lock", "stale", "fetch first", "non-fast-forward")


class _AuthRejected(Exception):
    """The remote asked again after we sent the configured credential: it was refused."""


class _AuthMissing(Exception):
    """The remote asks for a kind of credential that is not configured."""

    def __init__(self, allowed: CredentialType) -> None:
        super().__init__(str(allowed))
        self.allowed = allowed


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials, certificate checks, and the push lease, for one network operation."""

    def __init__(
        self,
        credentials: Credentials | None,
        environ: Mapping[str, str],
        lease: tuple[str, pygit2.Oid] | None = None,
    ) -> None:
        super().__init__()
        self._credentials = credentials
        self._environ = environ
        self._sent = 0
        self._lease = lease
        self.secrets: list[str] = []
        self.rejected: dict[str, str] = {}

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass | pygit2.Username | pygit2.Keypair:
        cred = self._credentials
        if (
            isinstance(cred, HttpsToken | HttpsTokenSource)
            and allowed_types & CredentialType.USERPASS_PLAINTEXT
        ):
            self._count_attempt()
            secret = read_token(cred, self._environ).reveal()
            self.secrets.append(secret)
            return pygit2.UserPass(cred.username, secret)
        if isinstance(cred, SshKey | SshAgent):
            user = username_from_url or cred.username
            if allowed_types & CredentialType.SSH_KEY:
                self._count_attempt()
                return _keypair(cred, user, self.secrets)
            if allowed_types & CredentialType.USERNAME:
                return pygit2.Username(user)
        raise _AuthMissing(allowed_types)

    def _count_attempt(self) -> None:
        self._sent += 1
        if self._sent > 1:  # libgit2 asks again only after a refusal; never loop on it
            raise _AuthRejected

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        # pygit2's default accepts any SSH host key; trust libgit2's known_hosts and TLS
        # verdicts instead, so an unknown host fails closed.
        return valid

    def push_negotiation(self, updates: list[pygit2.remotes.PushUpdate]) -> None:
        for update in updates:
            lease = self._lease
            if lease and update.dst_refname == lease[0] and update.src != lease[1]:
                raise updating.BranchMoved(None if update.src == _ZERO else str(update.src))

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message


def _keypair(cred: SshKey | SshAgent, user: str, secrets: list[str]) -> pygit2.Keypair:
    if isinstance(cred, SshAgent):
        return pygit2.KeypairFromAgent(user)
    public = cred.public_key or Path(f"{cred.private_key}.pub")
    passphrase = read_passphrase(cred)
    if passphrase is not None:
        secrets.append(passphrase.reveal())
    return pygit2.Keypair(
        user,
        str(public) if public.exists() else None,
        str(cred.private_key),
        passphrase.reveal() if passphrase else "",
    )


class Pygit2ConfigRepo:
    """A ConfigRepo over a bare clone in a cache folder; thread-safe (one lock)."""

    def __init__(
        self,
        repo: pygit2.Repository,
        remote: RemoteUrl,
        credentials: Credentials | None,
        environ: Mapping[str, str],
        max_attempts: int,
        cache: _Cache | None = None,
    ) -> None:
        self._repo = repo
        self._remote = remote
        self._credentials = credentials
        self._environ = environ
        self._max_attempts = max_attempts
        self._lock = threading.RLock()
        self._writer = _Writer(self)
        self._cache = cache
        self._repairs = 0
        # Commits a local remote is known to hold whole (its refs' and our tracking refs'
        # tips at the first push after a fetch, and every commit pushed since): listing
        # every ref at each push made a cycle of N merges cost N x refs.
        self._complete: set[pygit2.Oid] = set()

    @classmethod
    def open(
        cls,
        url: str,
        cache_dir: Path,
        *,
        credentials: Credentials | None = None,
        depth: int = 50,
        max_attempts: int = 5,
        timeout: float | None = 60.0,
        environ: Mapping[str, str] | None = None,
    ) -> Pygit2ConfigRepo:
        """Clone ``url`` into ``cache_dir`` on first use, else reuse that clone and fetch.

        ``depth`` > 0 makes the first clone shallow; local paths and ``file://`` remotes are
        always cloned in full, because libgit2's local transport cannot fetch shallow.
        History walks deepen a shallow clone as far as they need. ``timeout`` (seconds)
        sets libgit2's process-wide connect and read timeouts.
        """
        remote = parse_remote(url)
        if timeout is not None:
            pygit2.settings.server_connect_timeout = int(timeout * 1000)
            pygit2.settings.server_timeout = int(timeout * 1000)
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = _Cache(
            cache_dir / remote.cache_name(),
            cacherepair.CacheFolder(cache_dir),
            0 if remote.is_local else depth,
        )
        env = os.environ if environ is None else environ
        make = functools.partial(
            cls,
            remote=remote,
            credentials=credentials,
            environ=env,
            max_attempts=max_attempts,
            cache=cache,
        )
        if not (cache.path.exists() or cache.path.is_symlink()):
            cache.install(_clone(make, remote, cache), None)
            return make(pygit2.Repository(str(cache.path)))
        cleared, damage = cache.examine(remote.url, _DEPTH_KEY)
        if damage is not None:
            repaired = _reclone(make, remote, cache, damage)
            adapter = make(pygit2.Repository(str(cache.path)))
            adapter._repaired(repaired)
            return adapter
        adapter = make(pygit2.Repository(str(cache.path)))
        if cleared:
            adapter._repaired(cleared)
        adapter.fetch()
        return adapter

    @property
    def cache_repairs(self) -> int:
        """How many times this adapter found its clone damaged and repaired it (lock files a
        killed process left removed, or a damaged clone set aside and cloned again)."""
        return self._repairs

    # -- reads ---------------------------------------------------------------------------

    def fetch(self) -> None:
        """Bring every remote branch up to date (pruning deleted ones).

        A fetch that fails because the clone is damaged (not because the remote cannot be
        reached) repairs the clone and fetches again."""
        with self._lock:
            try:
                self._fetch(0, "fetching from")
            except TransientError:
                if not self._repair():
                    raise  # the remote's failure, not the clone's
                self._fetch(0, "fetching from")

    def tip(self, branch: str) -> str | None:
        """The commit ``branch`` pointed to at the last fetch, or None."""
        with self._lock:
            ref = self._repo.references.get(_held(_TRACKING + _branch_name(branch)))
            return str(ref.target) if ref is not None else None

    def branches(self, prefix: str = "") -> dict[str, str]:
        """Remote branches starting with ``prefix``, with their commits."""
        with self._lock:
            found = {}
            # References themselves, not names looked up again: pygit2 1.21 leaks the
            # name strings of that lookup (see _held).
            for ref in self._repo.references.iterator():
                name, target = ref.name, ref.target
                wanted = name.startswith(_TRACKING + prefix) and name != _TRACKING + "HEAD"
                if wanted and isinstance(target, pygit2.Oid):
                    found[name.removeprefix(_TRACKING)] = str(target)
            return dict(sorted(found.items()))

    def tree(self, commit: str) -> ReadView:
        """The files of ``commit``."""
        with self._lock:
            return _TreeView(self._lock, self._commit(commit))

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
            new_tree = self._commit(new).tree
            old_tree = self._commit(old).tree if old is not None else None
            found: list[FileChange] = []
            for prefix in paths.clean_prefixes(prefixes):
                _diff(prefix, _entry(old_tree, prefix), _entry(new_tree, prefix), found)
            return tuple(sorted(found, key=lambda change: change.path))

    def commit_info(self, commit: str) -> CommitInfo:
        """Metadata and trailers of ``commit``."""
        with self._lock:
            return _info(self._commit(commit))

    def merged_file(self, ancestor: str, ours: str, theirs: str, path: str) -> bytes | None:
        """``path`` in libgit2's three-way merge of the two commits' trees.

        Only the file's folder is merged (the same trees git would recurse into there): a
        whole 3,000-overlay tree costs milliseconds a merge, the folder microseconds.
        """
        path = paths.clean_path(path)
        folder, _, name = path.rpartition("/")
        with self._lock:
            base, mine, other = (
                _entry(self._commit(c).tree, folder) for c in (ancestor, ours, theirs)
            )
            if not (
                isinstance(base, pygit2.Tree)
                and isinstance(mine, pygit2.Tree)
                and isinstance(other, pygit2.Tree)
            ):
                return None  # the folder is gone or not a folder on a side: not a clean edit
            merged = self._repo.merge_trees(base, mine, other)
            conflicts = merged.conflicts
            if conflicts is not None and any(
                entry is not None and entry.path == name for sides in conflicts for entry in sides
            ):
                return None
            try:
                entry = merged[name]
            except KeyError:
                return None
            return bytes(self._repo[entry.id].peel(pygit2.Blob).data)

    def history(
        self, commit: str, path: str, limit: int = 20, first_parent: bool = False
    ) -> tuple[CommitInfo, ...]:
        """Commits from ``commit`` that changed ``path``, newest first, deepening if shallow."""
        path = paths.clean_path(path)
        with self._lock:
            start = str(self._commit(commit).id)
            while True:
                roots = self._shallow_roots()
                try:
                    ids = history.touching(
                        start,
                        entry=lambda c: _entry_id(self._commit(c), path),
                        parents=lambda c: [str(p) for p in self._commit(c).parent_ids],
                        time=lambda c: self._commit(c).commit_time,
                        limit=limit,
                        first_parent=first_parent,
                        boundary=roots.__contains__,
                    )
                    return tuple(_info(self._commit(c)) for c in ids)
                except history.Truncated as truncated:
                    self._deepen(truncated.walked)

    def file_histories(
        self, commit: str, files: Iterable[str], limit: int = 20, stop: str | None = None
    ) -> FileHistories:
        """Many files' first-parent histories in one walk, deepening if shallow."""
        wanted = frozenset(paths.clean_path(f) for f in files)
        folders = frozenset(
            path.rsplit("/", depth)[0] for path in wanted for depth in range(1, path.count("/") + 1)
        )
        infos: dict[str, CommitInfo] = {}

        def changed(commit_id: str, parent: str | None, pending: frozenset[str]) -> list[str]:
            new_tree = self._commit(commit_id).tree
            old_tree = self._commit(parent).tree if parent is not None else None
            out: list[str] = []
            _changed_files("", old_tree, new_tree, pending, folders, out)
            return out

        def info(commit_id: str) -> CommitInfo:
            if commit_id not in infos:
                infos[commit_id] = _info(self._commit(commit_id))
            return infos[commit_id]

        with self._lock:
            start = str(self._commit(commit).id)
            while True:
                roots = self._shallow_roots()
                try:
                    found, stopped = history.first_parent_touching(
                        start,
                        wanted,
                        changed=changed,
                        parents=lambda c: [str(p) for p in self._commit(c).parent_ids],
                        limit=limit,
                        stop=stop,
                        boundary=roots.__contains__,
                    )
                    return FileHistories(
                        {path: tuple(info(c) for c in ids) for path, ids in found.items()},
                        stopped,
                    )
                except history.Truncated as truncated:
                    self._deepen(truncated.walked)

    def remote_tip(self, branch: str) -> str | None:
        """The remote's ``branch`` now, without a fetch: the ref itself for a remote on
        this machine, else the remote's list of refs."""
        ref = f"refs/heads/{_branch_name(branch)}"
        with self._lock:
            local = self._remote.local_path
            if local is not None:
                return _local_ref(local, ref)
            callbacks = self._callbacks()
            try:
                heads = self._repo.remotes["origin"].list_heads(callbacks=callbacks)
            except (pygit2.GitError, OSError, _AuthRejected, _AuthMissing) as error:
                raise self._failure("reading a branch of", error, callbacks) from None
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
                _branch_name(branch),
                edit,
                message=message,
                author=author,
                committer=committer,
                trailers=trailers,
                max_attempts=self._max_attempts,
            )

    def replace_branch(
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
                _branch_name(branch),
                edit,
                base=base,
                expected_old=expected_old,
                message=message,
                author=author,
                committer=committer,
                trailers=trailers,
            )

    # -- internals -----------------------------------------------------------------------

    def _commit(self, commit: str) -> pygit2.Commit:
        if not _COMMIT_ID.match(commit):
            raise UnknownCommit(commit)
        found = self._repo.get(commit)
        if not isinstance(found, pygit2.Commit):
            raise UnknownCommit(commit)
        return found

    def _callbacks(self, lease: tuple[str, pygit2.Oid] | None = None) -> _Callbacks:
        return _Callbacks(self._credentials, self._environ, lease)

    def _fetch(self, depth: int, action: str) -> None:
        self._complete.clear()  # read again from the refs at the next push
        local = self._remote.local_path
        if local is not None and not local.is_dir():
            # libgit2 reports a missing path as an "unsupported URL protocol"
            raise TransientError(
                f"{action} {self._remote.display} failed: there is no repository at that "
                "path; check the path (it will be retried next cycle)"
            )
        callbacks = self._callbacks()
        try:
            with self._writing():
                self._repo.remotes["origin"].fetch(
                    callbacks=callbacks, prune=FetchPrune.PRUNE, depth=depth
                )
        except (pygit2.GitError, OSError, _AuthRejected, _AuthMissing) as error:
            raise self._failure(action, error, callbacks) from None

    def _writing(self) -> contextlib.AbstractContextManager[None]:
        """Held while libgit2 may have lock files in the clone: no one else clears them."""
        return self._cache.folder.writing() if self._cache else contextlib.nullcontext()

    def _repair(self) -> bool:
        """Repair the clone if it is damaged; False when it is whole."""
        cache = self._cache
        if cache is None:
            return False
        cleared, damage = cache.examine(self._remote.url, _DEPTH_KEY)
        if cleared:
            self._repaired(cleared)
        if damage is None:
            return cleared is not None
        make = functools.partial(
            type(self),
            remote=self._remote,
            credentials=self._credentials,
            environ=self._environ,
            max_attempts=self._max_attempts,
        )
        repaired = _reclone(make, self._remote, cache, damage)
        self._repo = pygit2.Repository(str(cache.path))
        self._repaired(repaired)
        return True

    def _repaired(self, what: str) -> None:
        self._repairs += 1
        log.warning("repaired the cache of %s: %s", self._remote.display, what)

    def _first_fetch(self, depth: int) -> None:
        try:
            self._fetch(depth, "cloning")
        except TransientError as error:
            if depth == 0 or "shallow" not in str(error):
                raise
            depth = 0  # a server without shallow support: take the whole history
            self._fetch(depth, "cloning")
        self._repo.config[_DEPTH_KEY] = str(depth)

    def _shallow_roots(self) -> frozenset[str]:
        try:
            text = (Path(self._repo.path) / "shallow").read_text()
        except FileNotFoundError:
            return frozenset()
        return frozenset(text.split())

    def _deepen(self, walked: int) -> None:
        try:
            depth = int(self._repo.config[_DEPTH_KEY] or 0)
        except (KeyError, ValueError):
            depth = 0
        target = max(depth, walked) * 4
        if target == 0 or target > _DEEPEST_SHALLOW or depth == _UNSHALLOW:
            target = _UNSHALLOW
        self._fetch(target, "deepening the history from")
        with self._writing():
            self._repo.config[_DEPTH_KEY] = str(target)
        # libgit2 keeps boundary commits parsed without parents in its object cache
        self._repo = pygit2.Repository(self._repo.path)
        if target == _UNSHALLOW and self._shallow_roots():
            raise TransientError(
                f"the config repo {self._remote.display} did not send its full history; "
                "history-based gates cannot be evaluated until it does"
            )

    def _failure(self, action: str, error: BaseException, callbacks: _Callbacks) -> ReconcilerError:
        where = self._remote.display
        if isinstance(error, ReconcilerError):
            return error
        if isinstance(error, _AuthRejected) and self._credentials is not None:
            return TransientError(
                f"{action} {where}: the remote refused {self._credentials.describe()}; check "
                "that it is current and has access to this repository"
            )
        if isinstance(error, _AuthMissing):
            kinds = " or ".join(t for f, t in _KINDS if error.allowed & f) or "credentials"
            have = self._credentials.describe() if self._credentials else "none"
            return TransientError(
                f"{action} {where}: the remote asks for {kinds}, and {have} is configured; "
                "set an HTTPS token (file or variable) for https remotes, an SSH key for ssh"
            )
        text = str(error) or type(error).__name__
        for secret in callbacks.secrets:
            text = text.replace(secret, "***")
        hint = "check the address, the network and the remote"
        if "hostkey" in text:
            hint = "add the server's host key to ~/.ssh/known_hosts of the daemon's user"
        return TransientError(
            f"{action} {where} failed: {text}; {hint} (it will be retried next cycle)"
        )

    def _push(self, branch: str, commit: str, expected: str | None, force: bool) -> None:
        ref = f"refs/heads/{branch}"
        if self._remote.local_path is not None:
            localpush.push(
                self._repo, self._remote.local_path, ref, commit, expected, self._complete
            )
        else:
            lease = (ref, pygit2.Oid(hex=expected) if expected else _ZERO)
            callbacks = self._callbacks(lease)
            spec = f"{'+' if force else ''}{commit}:{ref}"
            try:
                self._repo.remotes["origin"].push([spec], callbacks=callbacks)
            except (pygit2.GitError, OSError, _AuthRejected, _AuthMissing) as error:
                raise self._failure("pushing to", error, callbacks) from None
            refusal = callbacks.rejected.get(ref)
            if refusal is not None:
                if any(word in refusal.lower() for word in _RACE_WORDS):
                    self.fetch()
                    raise updating.BranchMoved(self.tip(branch))
                raise PermanentError(
                    f"the config repo {self._remote.display} refused the update of branch "
                    f"{branch!r}: {refusal}; check branch protection and the credential's "
                    "write access"
                )
        with self._writing():
            self._repo.references.create(_TRACKING + branch, commit, force=True)


class _Writer:
    """The primitives updating.py needs, over the adapter (whose lock is already held)."""

    def __init__(self, owner: Pygit2ConfigRepo) -> None:
        self._owner = owner

    def refresh(self) -> None:
        self._owner.fetch()

    def tracked(self, branch: str) -> str | None:
        return self._owner.tip(branch)

    def view(self, commit: str) -> ReadView:
        return self._owner.tree(commit)

    def build(
        self,
        parent: str,
        changes: Mapping[str, bytes | None],
        message: str,
        author: Signature,
        committer: Signature,
    ) -> str | None:
        check_writable(author)
        check_writable(committer)
        repo = self._owner._repo
        base = self._owner._commit(parent)
        tree = _write_tree(repo, base.tree, paths.nest(changes), "")
        if tree is None or tree == base.tree_id:
            return None
        oid = repo.create_commit(None, _pysig(author), _pysig(committer), message, tree, [base.id])
        return str(oid)

    def same_change(self, commit: str, other: str) -> bool:
        repo = self._owner._repo
        first, second = repo.get(commit), repo.get(other)
        if not isinstance(first, pygit2.Commit) or not isinstance(second, pygit2.Commit):
            return False
        return first.tree_id == second.tree_id and first.parent_ids == second.parent_ids

    def push(self, branch: str, commit: str, expected: str | None, force: bool) -> None:
        self._owner._push(branch, commit, expected, force)


class _TreeView:
    """One commit's files, resolved through in-repo symlinks."""

    def __init__(self, lock: threading.RLock, commit: pygit2.Commit) -> None:
        self._lock = lock
        self._commit = commit
        self._root = commit.tree
        # A commit's tree never changes, so entries looked up once are kept: libgit2 would
        # otherwise inflate every folder on the path again for each file read.
        self._entries: dict[str, pygit2.Object | None] = {"": self._root}
        self._resolved: dict[str, paths.Resolved] = {}

    def _entry(self, path: str) -> pygit2.Object | None:
        if path in self._entries:
            return self._entries[path]
        parent_path, _, name = path.rpartition("/")
        parent = self._entry(parent_path)
        found = _entry(parent, name) if isinstance(parent, pygit2.Tree) else None
        self._entries[path] = found
        return found

    @property
    def commit(self) -> str:
        return str(self._commit.id)

    def kind(self, path: str) -> EntryKind:
        return self._resolve(path).kind

    def read(self, path: str) -> bytes | None:
        blob = self._blob(path)
        return blob.data if blob is not None else None

    def blob_id(self, path: str) -> str | None:
        blob = self._blob(path)
        return str(blob.id) if blob is not None else None

    def names(self, path: str) -> tuple[str, ...]:
        with self._lock:
            found = self._resolve(path)
            if found.kind != "dir":
                return ()
            tree = self._entry(found.path)
            if not isinstance(tree, pygit2.Tree):
                return ()
            return tuple(sorted(str(child.name) for child in tree))

    def real_path(self, path: str) -> str | None:
        found = self._resolve(path)
        return found.path if found.kind in ("file", "dir") else None

    def _blob(self, path: str) -> pygit2.Blob | None:
        with self._lock:
            found = self._resolve(path)
            if found.kind != "file":
                return None
            blob = self._entry(found.path)
            return blob if isinstance(blob, pygit2.Blob) else None

    def _resolve(self, path: str) -> paths.Resolved:
        with self._lock:
            found = self._resolved.get(path)
            if found is None:
                found = paths.resolve(paths.clean_path(path), self._lookup)
                self._resolved[path] = found
            return found

    def _lookup(self, path: str) -> paths.Entry | None:
        found = self._entry(path)
        if found is None:
            return None
        if isinstance(found, pygit2.Tree) or found.filemode == FileMode.COMMIT:
            return paths.Entry("tree")
        if found.filemode == FileMode.LINK and isinstance(found, pygit2.Blob):
            return paths.Entry("link", found.data.decode("utf-8", "surrogateescape"))
        return paths.Entry("blob")


def _local_ref(path: Path, ref: str) -> str | None:
    """The commit ``ref`` names in the repository at ``path`` (a remote on this machine)."""
    try:
        found = pygit2.Repository(str(path)).references.get(ref)
    except (pygit2.GitError, KeyError) as error:
        raise TransientError(f"reading {ref} of {path} failed: {error}; check the path") from None
    target = found.resolve().target if found is not None else None
    return str(target) if isinstance(target, pygit2.Oid) else None


def _clone(
    make: Callable[[pygit2.Repository], Pygit2ConfigRepo], remote: RemoteUrl, place: _Cache
) -> Path:
    """A new full clone of ``remote`` in a scratch folder next to its place in the cache."""
    scratch = place.scratch()
    try:
        repo = pygit2.init_repository(str(scratch), bare=True)
        repo.remotes.create("origin", remote.url)
        make(repo)._first_fetch(place.depth)
        repo.free()
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return scratch


def _reclone(
    make: Callable[[pygit2.Repository], Pygit2ConfigRepo],
    remote: RemoteUrl,
    place: _Cache,
    damage: str,
) -> str:
    """Clone again in place of a damaged clone (kept aside); what was repaired."""
    try:
        scratch = _clone(make, remote, place)
    except TransientError as error:  # the damaged clone stays until a new one is made
        raise TransientError(f"the clone in {place.path} is damaged ({damage}); {error}") from None
    return place.install(scratch, damage) or damage


def _branch_name(branch: str) -> str:
    if not branch or not pygit2.reference_is_valid_name(f"refs/heads/{branch}"):
        raise PolicyError(f"{branch!r} is not a valid git branch name")
    return branch


def _held(name: str) -> str:
    """``name`` as the one string object of its value.

    pygit2 1.21 keeps a reference to the name given to ``References.get`` and to
    ``Tree[...]`` and never drops it, so each call with a new string object leaks that
    string (about 80 bytes; a daemon makes thousands of such calls a cycle). Interned, every
    call with the same value passes the same object, and the leak stops at one per name.
    """
    return sys.intern(name)


def _entry(tree: pygit2.Tree | None, path: str) -> pygit2.Object | None:
    if tree is None or not path:
        return tree
    try:
        return tree[_held(path)]
    except KeyError:
        return None


def _entry_id(commit: pygit2.Commit, path: str) -> str | None:
    found = _entry(commit.tree, path)
    return None if found is None else f"{found.id}:{getattr(found, 'filemode', 0)}"


def _changed_files(
    path: str,
    old: pygit2.Object | None,
    new: pygit2.Object | None,
    wanted: frozenset[str],
    folders: frozenset[str],
    out: list[str],
) -> None:
    """The wanted paths whose entries differ, descending only into folders that lead to one."""
    same_id = old is not None and new is not None and old.id == new.id
    if same_id and getattr(old, "filemode", None) == getattr(new, "filemode", None):
        return
    if path in wanted:
        out.append(path)
    if path and path not in folders:
        return
    old_children = {str(c.name): c for c in old} if isinstance(old, pygit2.Tree) else {}
    new_children = {str(c.name): c for c in new} if isinstance(new, pygit2.Tree) else {}
    for name in old_children.keys() | new_children.keys():
        child = f"{path}/{name}" if path else name
        if child in wanted or child in folders:
            _changed_files(
                child, old_children.get(name), new_children.get(name), wanted, folders, out
            )


def _diff(
    path: str, old: pygit2.Object | None, new: pygit2.Object | None, out: list[FileChange]
) -> None:
    same_id = old is not None and new is not None and old.id == new.id
    if same_id and getattr(old, "filemode", None) == getattr(new, "filemode", None):
        return
    old_tree = old if isinstance(old, pygit2.Tree) else None
    new_tree = new if isinstance(new, pygit2.Tree) else None
    if old_tree is not None or new_tree is not None:
        old_children = {str(c.name): c for c in old_tree} if old_tree is not None else {}
        new_children = {str(c.name): c for c in new_tree} if new_tree is not None else {}
        for name in sorted(old_children.keys() | new_children.keys()):
            _diff(paths.join(path, name), old_children.get(name), new_children.get(name), out)
    old_file = old if old is not None and old_tree is None else None
    new_file = new if new is not None and new_tree is None else None
    if old_file is not None or new_file is not None:
        out.append(
            FileChange(
                path,
                str(old_file.id) if old_file is not None else None,
                str(new_file.id) if new_file is not None else None,
            )
        )


def _write_tree(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: paths.Nested, where: str
) -> pygit2.Oid | None:
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    for name, change in changes.items():
        path = paths.join(where, name)
        existing = _entry(tree, name)
        mode = getattr(existing, "filemode", None)
        if change is None or (
            isinstance(change, dict)
            and not isinstance(existing, pygit2.Tree)
            and paths.only_deletions(change)
        ):
            if change is None and existing is not None:
                builder.remove(name)
            continue
        if mode == FileMode.LINK:
            raise PolicyError(f"{path} is a symlink in the repo; write the file it points to")
        if isinstance(change, dict):
            if existing is not None and not isinstance(existing, pygit2.Tree):
                raise PolicyError(f"cannot write under {path}: it is a file in the repo")
            sub = _write_tree(repo, existing, change, path)
            if sub is None:
                if existing is not None:
                    builder.remove(name)
            else:
                builder.insert(name, sub, FileMode.TREE)
            continue
        if isinstance(existing, pygit2.Tree):
            raise PolicyError(f"cannot write the file {path}: it is a folder in the repo")
        keep_exec = mode == FileMode.BLOB_EXECUTABLE
        builder.insert(
            name, repo.create_blob(change), FileMode.BLOB_EXECUTABLE if keep_exec else FileMode.BLOB
        )
    if where and len(builder) == 0:
        return None  # git stores no empty folders: drop it from its parent
    return builder.write()


def _info(commit: pygit2.Commit) -> CommitInfo:
    return CommitInfo(
        id=str(commit.id),
        parents=tuple(str(parent) for parent in commit.parent_ids),
        author=_signature(commit.author),
        committer=_signature(commit.committer),
        message=commit.message,
        trailers=parse_trailers(commit.message),
    )


def _signature(sig: pygit2.Signature) -> Signature:
    zone = timezone(timedelta(minutes=sig.offset))
    return Signature(sig.name, sig.email, datetime.fromtimestamp(sig.time, zone))


def _pysig(sig: Signature) -> pygit2.Signature:
    return pygit2.Signature(sig.name, sig.email, int(sig.time.timestamp()), sig.offset_minutes)


def create_repository(
    path: Path, files: Mapping[str, bytes], *, branch: str, message: str, author: Signature
) -> str:
    """A new bare repository at ``path`` whose ``branch`` holds ``files`` in one commit.

    For demos and fixtures: a config repo to point the daemon at. Returns the commit id.
    """
    repo = pygit2.init_repository(str(path), bare=True, initial_head=branch)
    tree = _write_tree(repo, None, paths.nest({p: files[p] for p in files}), "")
    assert tree is not None
    signature = _pysig(author)
    commit = repo.create_commit(
        f"refs/heads/{_branch_name(branch)}", signature, signature, message, tree, []
    )
    return str(commit)
