"""Where the local forge keeps its requests: one JSON record per request on a git branch.

The branch ``reconciler/requests`` holds ``.reconciler/requests/<number>.json``. It is
created from the base branch on first use. Every write goes through an edit of the branch's
current tip, which the ConfigRepo port re-runs after a lost race, so concurrent writers
never lose each other's updates. Each write is one commit whose message says what happened.

Reads go through a ``Book``: the records at one commit of the branch, indexed the way
writes ask (the open request of a head branch, the highest number). A book is carried from
one tip to the next by reading only the records that changed there, and a write of the
ledger's own updates the book with the records it wrote, so a write costs the records it
touches, not every record ever made.

A record that cannot be read is kept apart as damaged, with the head branch it still names
when that much is readable: it fails only what needs it (that record, and new requests for
its head branch), never the reading of the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.errors import PermanentError
from reconciler.forge import records
from reconciler.forge.port import DamagedRequest
from reconciler.forge.records import RequestRecord
from reconciler.gitrepo.port import (
    ConfigRepo,
    Edit,
    FileChange,
    LeaseRejected,
    PushOutcome,
    ReadView,
    Signature,
    UnknownCommit,
)

BRANCH = "reconciler/requests"
_CACHE_LIMIT = 20_000
log = logging.getLogger("reconciler.forge.local")

# What a ledger write changes: request number -> its new record.
Changes = Mapping[int, RequestRecord]


@dataclass(frozen=True)
class Book:
    """Every request record at one commit of the requests branch (None: no branch yet)."""

    commit: str | None
    records: Mapping[int, RequestRecord] = field(default_factory=dict)
    damaged: Mapping[int, DamagedRequest] = field(default_factory=dict)
    opened: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # head -> open ones
    top: int = 0  # the highest number any record file has, damaged or not

    def sorted(self) -> list[RequestRecord]:
        """Every readable record, by number."""
        return [self.records[n] for n in sorted(self.records)]

    def open_for(self, head_branch: str) -> RequestRecord | None:
        """The open request of ``head_branch`` (the oldest, should there be two)."""
        numbers = self.opened.get(head_branch, ())
        return self.records[numbers[0]] if numbers else None

    def damaged_for(self, head_branch: str) -> DamagedRequest | None:
        """A damaged record naming ``head_branch``, which might be its open request."""
        for damage in self.damaged.values():
            if damage.head_branch == head_branch:
                return damage
        return None

    def get(self, number: int) -> RequestRecord:
        """Request ``number``'s record; PermanentError when it is damaged or missing."""
        found = self.records.get(number)
        if found is not None:
            return found
        damage = self.damaged.get(number)
        if damage is not None:
            raise PermanentError(damage.problem)
        raise PermanentError(
            f"there is no promotion request #{number} in the config repo (branch "
            f"{BRANCH}); `reconciler review list` shows the open ones"
        )

    def moved(
        self, commit: str, found: Mapping[int, RequestRecord | DamagedRequest | None]
    ) -> Book:
        """This book at ``commit``, where the records numbered in ``found`` are now as given
        (None: the file is gone); the others are unchanged."""
        # Shallow copies (in C, whatever the size); only the touched entries are rebuilt.
        recs, damaged, opened = dict(self.records), dict(self.damaged), dict(self.opened)
        top = self.top
        for number, new in found.items():
            old = recs.pop(number, None)
            if old is not None and old.state == "open":
                rest = tuple(n for n in opened.get(old.head_branch, ()) if n != number)
                if rest:
                    opened[old.head_branch] = rest
                else:
                    opened.pop(old.head_branch, None)
            damaged.pop(number, None)
            if isinstance(new, RequestRecord):
                recs[number] = new
                if new.state == "open":
                    opened[new.head_branch] = tuple(
                        sorted((*opened.get(new.head_branch, ()), number))
                    )
            elif new is not None:
                damaged[number] = new
            top = max(top, number) if new is not None else top
        if top in found and found[top] is None:
            top = max((*recs, *damaged), default=0)  # the highest file went away
        return Book(commit, recs, damaged, opened, top)


class Ledger:
    """Reads and writes request records on the requests branch of one config repo."""

    def __init__(self, repo: ConfigRepo, base_branch: str, who: Callable[[], Signature]) -> None:
        self._repo = repo
        self._base_branch = base_branch
        self._who = who
        self._parsed: dict[tuple[str, int], RequestRecord | DamagedRequest] = {}  # by blob
        self._book = Book(None)  # the last book read or written

    def book(self) -> Book:
        """Every record at the branch's last fetched tip."""
        tip = self._repo.tip(BRANCH)
        return self.at(self._repo.tree(tip)) if tip else Book(None)

    def get(self, number: int) -> RequestRecord:
        """Request ``number``'s record; PermanentError when it is missing or damaged."""
        return self.book().get(number)

    def at(self, view: ReadView) -> Book:
        """Every record in ``view``, read from the last book's commit on when there is one."""
        last = self._book
        if last.commit == view.commit:
            return last
        touched = None
        if last.commit is not None:
            try:
                paths = self._repo.changed_paths(last.commit, view.commit, (records.REQUESTS_DIR,))
                touched = _numbers(paths)
            except UnknownCommit:
                touched = None  # the clone lost that commit (rewritten, re-cloned): read all
        if touched is None:
            names = (records.number_of(name) for name in view.names(records.REQUESTS_DIR))
            book = Book(None).moved(view.commit, self._read(view, {n for n in names if n}))
        else:
            book = last.moved(view.commit, self._read(view, touched))
        self._book = book
        return book

    def change(
        self, number: int, change: Callable[[RequestRecord], RequestRecord], message: str
    ) -> RequestRecord:
        """Apply ``change`` to request ``number``'s record as it is on the branch's tip."""
        self.get(number)  # a clear error before writing anything
        result: list[RequestRecord] = []

        def edit(book: Book) -> Changes | None:
            if number not in book.records and number not in book.damaged:
                raise PermanentError(f"promotion request #{number} disappeared from {BRANCH}")
            current = book.get(number)
            new = change(current)
            result[:] = [new]
            return {number: new} if new != current else None

        self.write(edit, message)
        return result[0]

    def write(self, edit: Callable[[Book], Changes | None], message: str) -> PushOutcome:
        """Commit ``edit``'s records on the requests branch, creating it on first use.

        ``edit`` is given the book at the branch's current tip (again after a lost race)
        and returns the records to write.
        """
        ran: list[tuple[Book, Changes]] = []

        def files(view: ReadView) -> dict[str, bytes | None] | None:
            book = self.at(view)
            changes = edit(book)
            ran[:] = [(book, changes or {})]
            if not changes:
                return None
            return {records.path_of(n): records.encode(r) for n, r in changes.items()}

        outcome = self._push(files, message)
        if outcome.changed and outcome.commit and ran and ran[0][0].commit == outcome.previous:
            # The new tip is the book the edit last saw plus exactly what it wrote.
            book, changes = ran[0]
            self._book = book.moved(outcome.commit, changes)
        return outcome

    def put(self, files: Edit, message: str) -> PushOutcome:
        """Commit files other than request records on the requests branch (a commit's
        statuses), creating the branch on first use; ``files`` is run again after a lost race."""
        return self._push(files, message)

    def _push(self, files: Edit, message: str) -> PushOutcome:
        who = self._who()
        if self._repo.tip(BRANCH) is None:
            self._repo.fetch()
        if self._repo.tip(BRANCH) is None:
            base = require_tip(self._repo, self._base_branch)
            try:
                return self._repo.replace_branch(
                    BRANCH, files, base=base, expected_old=None,
                    message=message, author=who, committer=who,
                )  # fmt: skip
            except LeaseRejected:
                self._repo.fetch()  # another writer created it first: add to theirs
        return self._repo.update_branch(BRANCH, files, message=message, author=who, committer=who)

    def _read(
        self, view: ReadView, numbers: Iterable[int]
    ) -> dict[int, RequestRecord | DamagedRequest | None]:
        return {number: self._one(view, number) for number in numbers}

    def _one(self, view: ReadView, number: int) -> RequestRecord | DamagedRequest | None:
        """Request ``number``'s record in ``view`` (None: no file), parsed once per blob."""
        path = records.path_of(number)
        blob = view.blob_id(path)
        if blob is None:
            return None
        if (blob, number) not in self._parsed:
            if len(self._parsed) > _CACHE_LIMIT:
                self._parsed.clear()
            data = view.read(path) or b""
            try:
                found: RequestRecord | DamagedRequest = records.decode(
                    data, f"{path} on branch {BRANCH}", number
                )
            except PermanentError as error:
                found = records.damaged(number, data, str(error))
                log.error("%s", found.problem)  # once per damaged version of the file
            self._parsed[(blob, number)] = found
        return self._parsed[(blob, number)]


def _numbers(changes: Iterable[FileChange]) -> set[int]:
    """The request numbers whose record files are among ``changes``."""
    found = set()
    for change in changes:
        name = change.path.removeprefix(records.REQUESTS_DIR + "/").split("/", 1)[0]
        number = records.number_of(name)
        if number is not None:
            found.add(number)
    return found


def require_tip(repo: ConfigRepo, branch: str) -> str:
    """The branch's tip, fetching once if it is not known yet; PermanentError if absent."""
    tip = repo.tip(branch)
    if tip is None:
        repo.fetch()
        tip = repo.tip(branch)
    if tip is None:
        raise PermanentError(f"branch {branch!r} does not exist in the config repo")
    return tip


def aware(at: datetime) -> datetime:
    """``at``, checked to carry a UTC offset (records store only aware times)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the local forge stores only timezone-aware times")
    return at
