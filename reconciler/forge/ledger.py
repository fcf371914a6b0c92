"""Where the local forge keeps its requests: one JSON record per request on a git branch.

The branch ``reconciler/requests`` holds ``.reconciler/requests/<number>.json``. It is
created from the base branch on first use. Every write goes through an edit of the branch's
current tip, which the ConfigRepo port re-runs after a lost race, so concurrent writers
never lose each other's updates. Each write is one commit whose message says what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from reconciler.errors import PermanentError
from reconciler.forge import records
from reconciler.forge.records import RequestRecord
from reconciler.gitrepo.port import (
    ConfigRepo,
    Edit,
    LeaseRejected,
    PushOutcome,
    ReadView,
    Signature,
)

BRANCH = "reconciler/requests"
_CACHE_LIMIT = 20_000


class Ledger:
    """Reads and writes request records on the requests branch of one config repo."""

    def __init__(self, repo: ConfigRepo, base_branch: str, who: Callable[[], Signature]) -> None:
        self._repo = repo
        self._base_branch = base_branch
        self._who = who
        self._parsed: dict[tuple[str, int], RequestRecord] = {}  # (blob id, number) -> record

    def all(self) -> dict[int, RequestRecord]:
        """Every record at the branch's last fetched tip, by number."""
        tip = self._repo.tip(BRANCH)
        return self.at(self._repo.tree(tip)) if tip else {}

    def get(self, number: int) -> RequestRecord:
        """Request ``number``'s record; PermanentError when there is none."""
        tip = self._repo.tip(BRANCH)
        record = self.one_at(self._repo.tree(tip), number) if tip else None
        if record is None:
            raise PermanentError(
                f"there is no promotion request #{number} in the config repo (branch "
                f"{BRANCH}); `reconciler review list` shows the open ones"
            )
        return record

    def at(self, view: ReadView) -> dict[int, RequestRecord]:
        """Every record in ``view``; files that are not ``<number>.json`` are ignored."""
        found: dict[int, RequestRecord] = {}
        numbers = (records.number_of(name) for name in view.names(records.REQUESTS_DIR))
        for number in sorted(n for n in numbers if n is not None):
            record = self.one_at(view, number)
            if record is not None:
                found[number] = record
        return found

    def one_at(self, view: ReadView, number: int) -> RequestRecord | None:
        """Request ``number``'s record in ``view``, parsed once per blob."""
        path = records.path_of(number)
        blob = view.blob_id(path)
        if blob is None:
            return None
        if (blob, number) not in self._parsed:
            if len(self._parsed) > _CACHE_LIMIT:
                self._parsed.clear()
            data = view.read(path) or b""
            source = f"{path} on branch {BRANCH}"
            self._parsed[(blob, number)] = records.decode(data, source, number)
        return self._parsed[(blob, number)]

    def change(
        self, number: int, change: Callable[[RequestRecord], RequestRecord], message: str
    ) -> RequestRecord:
        """Apply ``change`` to request ``number``'s record as it is on the branch's tip."""
        self.get(number)  # a clear error before writing anything
        result: list[RequestRecord] = []

        def edit(view: ReadView) -> dict[str, bytes] | None:
            current = self.one_at(view, number)
            if current is None:
                raise PermanentError(f"promotion request #{number} disappeared from {BRANCH}")
            new = change(current)
            result[:] = [new]
            return {records.path_of(number): records.encode(new)} if new != current else None

        self.write(edit, message)
        return result[0]

    def write(self, edit: Edit, message: str) -> PushOutcome:
        """Commit ``edit`` on the requests branch, creating it from the base on first use."""
        who = self._who()
        if self._repo.tip(BRANCH) is None:
            self._repo.fetch()
        if self._repo.tip(BRANCH) is None:
            base = require_tip(self._repo, self._base_branch)
            try:
                return self._repo.replace_branch(
                    BRANCH, edit, base=base, expected_old=None,
                    message=message, author=who, committer=who,
                )  # fmt: skip
            except LeaseRejected:
                self._repo.fetch()  # another writer created it first: add to theirs
        return self._repo.update_branch(BRANCH, edit, message=message, author=who, committer=who)


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
