"""How the local forge opens a request: the ledger's next number, and at most one open
request per head branch, however many writers race for either."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from reconciler.errors import PermanentError, TransientError
from reconciler.forge.landing import Landings
from reconciler.forge.ledger import Book, Ledger, require_tip
from reconciler.forge.port import Request
from reconciler.forge.records import RequestRecord
from reconciler.gitrepo.port import CommitInfo, ConfigRepo

_ATTEMPTS = 5


class _Renumbered(Exception):
    """Another writer took the number this open was about to use."""


class Opener:
    """Opens requests on the ledger, written by ``handle``."""

    def __init__(
        self,
        repo: ConfigRepo,
        ledger: Ledger,
        landings: Landings,
        handle: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._repo = repo
        self._ledger = ledger
        self._landings = landings
        self._handle = handle
        self._clock = clock

    def open(
        self, head_branch: str, base_branch: str, title: str, body: str, labels: tuple[str, ...]
    ) -> Request:
        """Open a request for ``head_branch``, or return the open one it already has."""
        head = require_tip(self._repo, head_branch)
        base = require_tip(self._repo, base_branch)
        paths = [c.path for c in self._landings.head(head)[1]]
        for _ in range(_ATTEMPTS):
            try:
                return self._open_once(
                    head_branch,
                    base_branch,
                    title,
                    body=body,
                    labels=labels,
                    paths=paths,
                    base=base,
                )
            except _Renumbered:
                continue
        raise TransientError(
            f"could not open a request for {head_branch}: other writers took every new number "
            f"in {_ATTEMPTS} attempts; it will be tried again next cycle"
        )

    def _open_once(
        self,
        head_branch: str,
        base_branch: str,
        title: str,
        *,
        body: str,
        labels: tuple[str, ...],
        paths: list[str],
        base: str,
    ) -> Request:
        """One attempt at opening; _Renumbered when another writer took the number."""
        stored = self._ledger.book()
        _refuse_damaged(stored, head_branch)
        existing = stored.open_for(head_branch)
        # A request whose merge landed on the base without being recorded is not the open
        # one: it is recorded merged in the same commit that opens the next.
        landed: dict[int, CommitInfo] = {}
        if existing is not None:
            found = self._landings.merge_commit(existing, paths, base)
            if found is None:
                return existing.to_request(self._repo.tip(head_branch))
            landed[existing.number] = found
        now = self._clock()
        new = RequestRecord(
            stored.top + 1, head_branch, base_branch, title, body, self._handle,
            tuple(labels), "open", now, now,
        )  # fmt: skip
        result: list[RequestRecord] = []

        def edit(current: Book) -> dict[int, RequestRecord] | None:
            _refuse_damaged(current, head_branch)
            changes: dict[int, RequestRecord] = {}
            other = current.open_for(head_branch)
            if other is not None:
                found = landed.get(other.number)
                if found is None:  # another writer opened it first
                    result[:] = [other]
                    return None
                changes[other.number] = other.merged(found.id, found.time, None)
            if current.top + 1 != new.number:
                raise _Renumbered
            changes[new.number] = new
            result[:] = [new]
            return changes

        self._ledger.write(edit, f"open #{new.number} {head_branch}")
        return result[0].to_request(self._repo.tip(head_branch))


def _refuse_damaged(book: Book, head_branch: str) -> None:
    """PermanentError when a damaged record names ``head_branch``: it may be its open
    request, and a second one would fork the branch's history of requests."""
    damage = book.damaged_for(head_branch)
    if damage is not None:
        raise PermanentError(damage.problem)
