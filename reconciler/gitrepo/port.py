"""The config repo port: what the daemon reads from and writes to git, and its value types.

Reads take a commit id, so one cycle reads one consistent snapshot. Writes take an *edit*:
a function of the branch's current files that returns the files to change. When another
writer moves the branch first, the adapter fetches and runs the edit again on the new tip,
so a concurrent change is never overwritten and a finished change is never made twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from reconciler.errors import PermanentError, TransientError
from reconciler.gitrepo.trailers import Trailer, trailer_values
from reconciler.model import EntryKind

ChangeStatus = Literal["added", "modified", "deleted"]


@dataclass(frozen=True)
class Signature:
    """Who made a commit and when; ``time`` carries its UTC offset."""

    name: str
    email: str
    time: datetime

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("a commit signature needs a timezone-aware time")
        if self.time.utcoffset() != timedelta(minutes=self.offset_minutes):
            raise ValueError("git stores UTC offsets in whole minutes")

    @property
    def offset_minutes(self) -> int:
        """The UTC offset in minutes, as git stores it."""
        offset = self.time.utcoffset()
        return int(offset.total_seconds() // 60) if offset is not None else 0


@dataclass(frozen=True)
class CommitInfo:
    """A commit as the daemon reads it: ids, people, message and its parsed trailers."""

    id: str
    parents: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str
    trailers: tuple[Trailer, ...]

    @property
    def time(self) -> datetime:
        """When the commit was made (the committer's time)."""
        return self.committer.time

    @property
    def title(self) -> str:
        """The message's first line."""
        return self.message.split("\n", 1)[0]

    def trailer(self, key: str) -> str | None:
        """The last value of trailer ``key`` (case-insensitive), or None."""
        values = trailer_values(self.trailers, key)
        return values[-1] if values else None


@dataclass(frozen=True)
class FileChange:
    """One path that differs between two trees; a rename is a deletion plus an addition."""

    path: str
    old_id: str | None
    new_id: str | None

    @property
    def status(self) -> ChangeStatus:
        """Whether the path was added, modified or deleted."""
        if self.old_id is None:
            return "added"
        if self.new_id is None:
            return "deleted"
        return "modified"


@dataclass(frozen=True)
class FileHistories:
    """Many files' first-parent histories, read in one walk (``ConfigRepo.file_histories``).

    ``files`` maps each asked path to the commits that changed it, newest first. With a
    ``stop`` commit, ``stopped`` says whether the walk reached it: only then do the
    histories hold exactly the commits after ``stop``.
    """

    files: Mapping[str, tuple[CommitInfo, ...]]
    stopped: bool = False


TransferStage = Literal["started", "receiving", "done", "failed"]


@dataclass(frozen=True)
class Transfer:
    """How far one clone or fetch of ``remote`` (its display form, never credentials) has come."""

    action: str  # "cloning", "fetching from", "deepening the history from"
    remote: str
    stage: TransferStage = "receiving"
    received_objects: int = 0
    total_objects: int = 0
    indexed_objects: int = 0
    indexed_deltas: int = 0
    total_deltas: int = 0
    received_bytes: int = 0


# Told of every transfer's start, of its progress (each 256th of its objects or deltas), and
# of its end (``stage``); it must return quickly, since it runs inside the network operation.
TransferWatch = Callable[[Transfer], None]


@dataclass(frozen=True)
class PushOutcome:
    """What a branch write did: ``commit`` is the branch's value afterwards."""

    branch: str
    commit: str | None
    previous: str | None
    changed: bool
    attempts: int


class ReadView(Protocol):
    """The files of one commit. Symlinks inside the repo are followed, as in a checkout."""

    @property
    def commit(self) -> str:
        """The commit these files belong to."""
        ...

    def kind(self, path: str) -> EntryKind:
        """What ``path`` is; "escapes" if a symlink leads out of the repo (a RepoTree)."""
        ...

    def read(self, path: str) -> bytes | None:
        """The bytes of the file at ``path``, or None when there is no such file."""
        ...

    def blob_id(self, path: str) -> str | None:
        """The git blob id of the file at ``path`` (a cache key for parsed content)."""
        ...

    def names(self, path: str) -> tuple[str, ...]:
        """The entry names of the folder at ``path``, sorted; empty when it is no folder."""
        ...

    def real_path(self, path: str) -> str | None:
        """``path`` with symlinks followed; None when it is missing or leaves the repo."""
        ...


SigningFormat = Literal["ssh", "openpgp"]


class CommitSigner(Protocol):
    """Signs the commits an adapter writes (``--signing-key``): given a commit object's
    bytes, the armored detached signature git keeps in the commit's ``gpgsig`` header.

    ``sign`` raises SigningError when it cannot; the adapter then writes nothing (a signer
    given means no unsigned commit, ever). Neither ``describe`` nor an error ever shows key
    material.
    """

    @property
    def format(self) -> SigningFormat:
        """``ssh`` (``ssh-keygen -Y sign -n git``) or ``openpgp`` (``gpg --detach-sign``)."""
        ...

    def describe(self) -> str:
        """Which key, for messages: its file or its id, never its contents."""
        ...

    def sign(self, payload: bytes) -> str:
        """The armored detached signature of ``payload``."""
        ...


class SigningError(PermanentError):
    """A commit could not be signed, so it was not written (the message says which key and
    what to do)."""


# Given the branch's files, the files to write (bytes) or delete (None); None or an empty
# mapping when there is nothing to do. Called again on the new tip after a lost race, so it
# must decide from the view, not from what it saw before.
Edit = Callable[[ReadView], Mapping[str, bytes | None] | None]


class ConfigRepo(Protocol):
    """Read-only access to commits, and branch writes that never lose a concurrent update."""

    def fetch(self) -> None:
        """Bring every remote branch up to date; TransientError if the remote is unreachable."""
        ...

    def tip(self, branch: str) -> str | None:
        """The commit ``branch`` pointed to at the last fetch, or None if it did not exist."""
        ...

    def branches(self, prefix: str = "") -> Mapping[str, str]:
        """Branches whose names start with ``prefix``, with their commits, at the last fetch."""
        ...

    def tree(self, commit: str) -> ReadView:
        """The files of ``commit``."""
        ...

    def read(self, commit: str, path: str) -> bytes | None:
        """The bytes of ``path`` at ``commit``, or None."""
        ...

    def blob_id(self, commit: str, path: str) -> str | None:
        """The blob id of ``path`` at ``commit``, or None."""
        ...

    def changed_paths(
        self, old: str | None, new: str, prefixes: Sequence[str] | None = None
    ) -> tuple[FileChange, ...]:
        """Files that differ from ``old`` (None: the empty tree) to ``new``, under ``prefixes``.

        Sorted by path; symlinks are compared as entries, not followed.
        """
        ...

    def commit_info(self, commit: str) -> CommitInfo:
        """Metadata and trailers of ``commit``."""
        ...

    def history(
        self, commit: str, path: str, limit: int = 20, *, first_parent: bool = False
    ) -> tuple[CommitInfo, ...]:
        """Commits reachable from ``commit`` that changed ``path``, newest first.

        Like ``git log -- path``: a merge that took the path unchanged from a parent is
        skipped in favour of that parent's history. With ``first_parent``, only the
        first-parent chain is walked, so merges show the change they brought in.
        """
        ...

    def file_histories(
        self, commit: str, files: Iterable[str], limit: int = 20, stop: str | None = None
    ) -> FileHistories:
        """``history(commit, path, limit, first_parent=True)`` for each of ``files``, in one walk.

        With ``stop``, the walk ends there (exclusive) when ``stop`` is on the first-parent
        chain; otherwise it walks the whole chain and ``stopped`` is False.
        """
        ...

    def file_histories_task(
        self, commit: str, files: Sequence[str], limit: int = 20
    ) -> Callable[[], FileHistories | None] | None:
        """``file_histories(commit, files, limit)`` as a task another process can run (it
        pickles; reconciler.pinworkers), or None where this repo cannot be read from one.
        The task gives None where the walk needs history a shallow clone lacks."""
        ...

    def merged_file(self, ancestor: str, ours: str, theirs: str, path: str) -> bytes | None:
        """``path`` as git's three-way merge of ``ours`` and ``theirs`` from ``ancestor``
        leaves it (a forge merges a request so); None on a conflict there or a deletion."""
        ...

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
        """Commit ``edit``'s changes on top of ``branch`` and push them as a fast-forward.

        If another writer moved the branch, fetch and run ``edit`` again on the new tip, a
        bounded number of times, then TransientError. PermanentError if the branch does
        not exist or the remote refuses the update for a reason retrying cannot fix.
        """
        ...

    def replace_branch(  # noqa: PLR0913 a commit's parts, all keyword-only
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
        """Point ``branch`` at one new commit on ``base`` holding ``edit``'s changes.

        A forced update with a lease: it happens only if the branch is still at
        ``expected_old`` (None: it must not exist), else LeaseRejected. When the branch
        already holds the same change on the same base, nothing is pushed.
        """
        ...

    def remote_tip(self, branch: str) -> str | None:
        """The commit ``branch`` points to on the remote now, or None if it does not exist.

        Asked of the remote without a fetch (one ref read, or one listing of the remote's
        refs, and no objects), so a caller that must judge one branch as it is now does
        not pay for every branch; the clone's own view (``tip``) is left as it is.
        """
        ...


def check_writable(signature: Signature) -> None:
    """ValueError unless git can write ``signature``: a name, an email, no angle brackets."""
    text = signature.name + signature.email
    if not signature.name.strip() or not signature.email.strip() or "<" in text or ">" in text:
        raise ValueError(
            f"cannot commit as {signature.name!r} <{signature.email}>: git needs a name and "
            "an email, without '<' or '>'"
        )


class LeaseRejected(TransientError):
    """A forced branch update found the branch moved since it was read: re-plan, then retry."""

    def __init__(self, branch: str, expected: str | None, actual: str | None) -> None:
        self.branch = branch
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"branch {branch!r} changed on the remote since it was read (expected "
            f"{_short(expected)}, found {_short(actual)}): another writer updated it; "
            "it was left as is and will be looked at again next cycle"
        )


class UnknownCommit(PermanentError):
    """A commit id that the local clone does not hold (never fetched, or not an id)."""

    def __init__(self, commit: str) -> None:
        self.commit = commit
        super().__init__(
            f"commit {commit[:40]!r} is not in the local clone of the config repo; "
            "fetch first, or check where the id came from"
        )


def _short(commit: str | None) -> str:
    return commit[:12] if commit else "no branch"
