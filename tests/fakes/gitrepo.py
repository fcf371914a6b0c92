"""An in-memory config repo: a shared ``FakeRemote`` and ``FakeConfigRepo`` clients of it.

Each client has its own remote-tracking view, updated only by ``fetch``, so two clients can
race the way two daemons do. Branch writes go through reconciler.gitrepo.updating, the same
retry and lease rules as the pygit2 adapter; tests/contract runs both through one suite.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconciler.errors import PolicyError, TransientError
from reconciler.gitrepo import history, paths, updating
from reconciler.gitrepo.port import (
    CommitInfo,
    CommitSigner,
    ConfigRepo,
    Edit,
    FileChange,
    FileHistories,
    PushOutcome,
    ReadView,
    Signature,
    UnknownCommit,
    check_writable,
)
from reconciler.gitrepo.trailers import Trailer, parse_trailers
from reconciler.model import EntryKind

# An entry of a flat tree: its mode ("file", "exec" or "link") and its bytes.
Files = Mapping[str, tuple[str, bytes]]
_BAD_BRANCH = re.compile(r"(^/)|((^|/)\.)|(\.\.)|([\s~^:?*\[\\])|(/$)|(\.lock$)|(@\{)|(//)")
SEED_AUTHOR = Signature("Seed", "seed@example.com", datetime(2024, 1, 1, tzinfo=UTC))


def blob_id(data: bytes) -> str:
    """The git blob id of ``data``, as git computes it."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class FakeCommit:
    """A commit: a flat tree (path -> entry) and its metadata."""

    id: str
    files: Files
    parents: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str
    signature: str | None = None  # what the writer's signer gave (``payload`` was signed)

    def payload(self) -> bytes:
        """The bytes a signer signs for this commit (a stand-in for git's object text: its
        tree, parents and people, a blank line, the message)."""
        head = repr((sorted(self.files.items()), self.parents, self.author, self.committer))
        return f"{head}\n\n{self.message}".encode()


@dataclass
class FakeRemote:
    """The shared remote: every commit ever made, and the branches."""

    commits: dict[str, FakeCommit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    reachable: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def commit(
        self,
        files: Mapping[str, bytes],
        *,
        parents: Sequence[str] = (),
        message: str = "seed\n",
        links: Mapping[str, str] | None = None,
        author: Signature = SEED_AUTHOR,
        committer: Signature | None = None,
    ) -> str:
        """Store a commit whose whole tree is ``files`` (plus symlinks ``links``)."""
        tree: dict[str, tuple[str, bytes]] = {p: ("file", d) for p, d in files.items()}
        tree.update({p: ("link", t.encode()) for p, t in (links or {}).items()})
        return self.store(tree, tuple(parents), author, committer or author, message)

    def store(
        self,
        files: Files,
        parents: tuple[str, ...],
        author: Signature,
        committer: Signature,
        message: str,
        signer: CommitSigner | None = None,
    ) -> str:
        """Add a commit object; its id is a hash of everything in it. With ``signer``, it
        is signed first (SigningError: nothing is stored)."""
        unsigned = FakeCommit("", dict(files), parents, author, committer, message)
        signature = signer.sign(unsigned.payload()) if signer is not None else None
        text = repr((sorted(files.items()), parents, author, committer, message, signature))
        commit_id = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        self.commits[commit_id] = FakeCommit(
            commit_id, dict(files), parents, author, committer, message, signature
        )
        return commit_id

    def set_branch(self, branch: str, commit: str | None) -> None:
        """Point (or delete) a branch directly, as another user's force-push would."""
        with self.lock:
            if commit is None:
                self.refs.pop(branch, None)
            else:
                self.refs[branch] = commit


class FakeView:
    """The files of one fake commit, symlinks resolved like a checkout."""

    def __init__(self, commit: FakeCommit) -> None:
        self._commit = commit
        self._folders = {
            "/".join(path.split("/")[:i])
            for path in commit.files
            for i in range(1, path.count("/") + 1)
        }

    @property
    def commit(self) -> str:
        return self._commit.id

    def kind(self, path: str) -> EntryKind:
        return self._resolve(path).kind

    def read(self, path: str) -> bytes | None:
        found = self._resolve(path)
        return self._commit.files[found.path][1] if found.kind == "file" else None

    def blob_id(self, path: str) -> str | None:
        data = self.read(path)
        return blob_id(data) if data is not None else None

    def names(self, path: str) -> tuple[str, ...]:
        found = self._resolve(path)
        if found.kind != "dir":
            return ()
        prefix = f"{found.path}/" if found.path else ""
        children = {
            entry[len(prefix) :].split("/", 1)[0]
            for entry in self._commit.files
            if entry.startswith(prefix)
        }
        return tuple(sorted(children))

    def real_path(self, path: str) -> str | None:
        found = self._resolve(path)
        return found.path if found.kind in ("file", "dir") else None

    def _resolve(self, path: str) -> paths.Resolved:
        return paths.resolve(paths.clean_path(path), self._lookup)

    def _lookup(self, path: str) -> paths.Entry | None:
        if path in self._commit.files:
            mode, data = self._commit.files[path]
            return paths.Entry("link", data.decode()) if mode == "link" else paths.Entry("blob")
        return paths.Entry("tree") if path in self._folders else None


class FakeConfigRepo:
    """A client of a FakeRemote with its own remote-tracking branches."""

    def __init__(
        self, remote: FakeRemote, max_attempts: int = 5, signer: CommitSigner | None = None
    ) -> None:
        self.remote = remote
        self.max_attempts = max_attempts
        self.signer = signer  # signs every commit this client writes, as the adapter's does
        self.fetches = 0
        self.remote_reads = 0  # remote_tip calls
        self._tracking: dict[str, str] = {}
        self._writer = _FakeWriter(self)
        self.fetch()

    def fetch(self) -> None:
        if not self.remote.reachable:
            raise TransientError("fetching from the fake remote failed: it is unreachable")
        with self.remote.lock:
            self._tracking = dict(self.remote.refs)
        self.fetches += 1

    def tip(self, branch: str) -> str | None:
        return self._tracking.get(_branch_name(branch))

    def branches(self, prefix: str = "") -> dict[str, str]:
        return {b: c for b, c in sorted(self._tracking.items()) if b.startswith(prefix)}

    def tree(self, commit: str) -> ReadView:
        return FakeView(self._commit(commit))

    def read(self, commit: str, path: str) -> bytes | None:
        return self.tree(commit).read(path)

    def blob_id(self, commit: str, path: str) -> str | None:
        return self.tree(commit).blob_id(path)

    def changed_paths(
        self, old: str | None, new: str, prefixes: Sequence[str] | None = None
    ) -> tuple[FileChange, ...]:
        after = self._commit(new).files
        before = self._commit(old).files if old is not None else {}
        wanted = paths.clean_prefixes(prefixes)
        changes = []
        for path in sorted(before.keys() | after.keys()):
            if not any(paths.is_under(path, prefix) for prefix in wanted):
                continue
            if before.get(path) != after.get(path):
                changes.append(
                    FileChange(
                        path,
                        blob_id(before[path][1]) if path in before else None,
                        blob_id(after[path][1]) if path in after else None,
                    )
                )
        return tuple(changes)

    def merged_file(self, ancestor: str, ours: str, theirs: str, path: str) -> bytes | None:
        sides = [self.read(c, path) for c in (ancestor, ours, theirs)]
        base, mine, other = sides
        if mine is None or other is None:
            return None  # a deletion on either side: nothing to read (or a conflict)
        return merge3(base or b"", mine, other)

    def commit_info(self, commit: str) -> CommitInfo:
        found = self._commit(commit)
        return CommitInfo(
            id=found.id,
            parents=found.parents,
            author=found.author,
            committer=found.committer,
            message=found.message,
            trailers=parse_trailers(found.message),
        )

    def history(
        self, commit: str, path: str, limit: int = 20, *, first_parent: bool = False
    ) -> tuple[CommitInfo, ...]:
        path = paths.clean_path(path)
        ids = history.touching(
            self._commit(commit).id,
            entry=lambda c: _entry_key(self._commit(c).files, path),
            parents=lambda c: self._commit(c).parents,
            time=lambda c: int(self._commit(c).committer.time.timestamp()),
            limit=limit,
            first_parent=first_parent,
        )
        return tuple(self.commit_info(c) for c in ids)

    def file_histories(
        self, commit: str, files: Iterable[str], limit: int = 20, stop: str | None = None
    ) -> FileHistories:
        def changed(new: str, old: str | None, wanted: frozenset[str]) -> list[str]:
            after = self._commit(new).files
            before = self._commit(old).files if old is not None else {}
            return [p for p in wanted if _entry_key(before, p) != _entry_key(after, p)]

        found, stopped = history.first_parent_touching(
            self._commit(commit).id,
            {paths.clean_path(f) for f in files},
            changed=changed,
            parents=lambda c: self._commit(c).parents,
            limit=limit,
            stop=stop,
        )
        return FileHistories(
            {p: tuple(self.commit_info(c) for c in ids) for p, ids in found.items()}, stopped
        )

    def file_histories_task(
        self, commit: str, files: Sequence[str], limit: int = 20
    ) -> Callable[[], FileHistories | None] | None:
        return None  # its commits live in this process only

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
        return updating.update_branch(
            self._writer,
            _branch_name(branch),
            edit,
            message=message,
            author=author,
            committer=committer,
            trailers=trailers,
            max_attempts=self.max_attempts,
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

    def remote_tip(self, branch: str) -> str | None:
        if not self.remote.reachable:
            raise TransientError("reading the fake remote failed: it is unreachable")
        self.remote_reads += 1
        with self.remote.lock:
            return self.remote.refs.get(_branch_name(branch))

    def _commit(self, commit: str) -> FakeCommit:
        found = self.remote.commits.get(commit)
        if found is None:
            raise UnknownCommit(commit)
        return found

    def _push(self, branch: str, commit: str, expected: str | None) -> None:
        if not self.remote.reachable:
            raise TransientError("pushing to the fake remote failed: it is unreachable")
        with self.remote.lock:
            actual = self.remote.refs.get(branch)
            if actual != expected:
                raise updating.BranchMoved(actual)
            self.remote.refs[branch] = commit
        self._tracking[branch] = commit


class _FakeWriter:
    def __init__(self, owner: FakeConfigRepo) -> None:
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
        base = self._owner._commit(parent)
        paths.nest(changes)  # the same path checks as the real adapter
        files = dict(base.files)
        for raw, data in changes.items():
            path = paths.clean_file_path(raw)
            _apply(files, path, data)
        if files == base.files:
            return None
        return self._owner.remote.store(
            files, (base.id,), author, committer, message, self._owner.signer
        )

    def same_change(self, commit: str, other: str) -> bool:
        first = self._owner.remote.commits.get(commit)
        second = self._owner.remote.commits.get(other)
        if first is None or second is None:
            return False
        if self._owner.signer is not None and first.signature is None:
            return False  # an unsigned commit of before is replaced by a signed one
        return first.files == second.files and first.parents == second.parents

    def push(self, branch: str, commit: str, expected: str | None, *, force: bool) -> None:
        self._owner._push(branch, commit, expected)


def merge3(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """A line-based three-way merge: changes from both sides, None where they overlap or
    touch (as git's merge, which conflicts on adjacent lines too)."""
    if theirs in (ours, base):
        return ours
    if ours == base:
        return theirs
    lines = base.splitlines(keepends=True)
    hunks = sorted(
        [
            *_hunks(lines, ours.splitlines(keepends=True)),
            *_hunks(lines, theirs.splitlines(keepends=True)),
        ]
    )
    out: list[bytes] = []
    at = 0
    previous: tuple[int, int, tuple[bytes, ...]] | None = None
    for start, end, replacement in hunks:
        if previous is not None and start <= previous[1]:
            if (start, end, replacement) == previous:
                continue  # both sides made the same change
            return None
        out += lines[at:start]
        out += replacement
        at = end
        previous = (start, end, replacement)
    out += lines[at:]
    return b"".join(out)


def _hunks(base: list[bytes], side: list[bytes]) -> list[tuple[int, int, tuple[bytes, ...]]]:
    matcher = difflib.SequenceMatcher(a=base, b=side, autojunk=False)
    return [
        (i1, i2, tuple(side[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def _apply(files: dict[str, tuple[str, bytes]], path: str, data: bytes | None) -> None:
    parts = path.split("/")
    for depth in range(1, len(parts)):
        above = "/".join(parts[:depth])
        if above in files and data is not None:
            what = "a symlink" if files[above][0] == "link" else "a file"
            raise PolicyError(f"cannot write under {above}: it is {what} in the repo")
    below = [p for p in files if p.startswith(path + "/")]
    if data is None:
        files.pop(path, None)
        for inner in below:
            del files[inner]
        return
    if below:
        raise PolicyError(f"cannot write the file {path}: it is a folder in the repo")
    mode = files[path][0] if path in files else "file"
    if mode == "link":
        raise PolicyError(f"{path} is a symlink in the repo; write the file it points to")
    files[path] = (mode, data)


def _entry_key(files: Files, path: str) -> str | None:
    if path in files:
        return repr(files[path])
    inside = sorted((p, e) for p, e in files.items() if not path or p.startswith(path + "/"))
    return repr(inside) if inside else None


def _branch_name(branch: str) -> str:
    if not branch or _BAD_BRANCH.search(branch):
        raise PolicyError(f"{branch!r} is not a valid git branch name")
    return branch


_: ConfigRepo = FakeConfigRepo(FakeRemote())
