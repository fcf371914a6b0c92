"""Where the outbox lives: one file per sink on the branch ``reconciler/notifications`` of
the config repo, written through the git port's edit-and-push (a lost race runs the edit
again on the new tip), so every replica of a repo shares it and claims are compare-and-swap.

The branch is made from the base branch on first use, as the local forge's requests branch
is (reconciler.forge.ledger).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reconciler.errors import PermanentError
from reconciler.gitrepo.port import ConfigRepo, LeaseRejected, ReadView, Signature
from reconciler.notify import outbox
from reconciler.notify.outbox import Entry

BRANCH = "reconciler/notifications"
Books = dict[str, dict[str, Entry]]  # sink -> event id -> entry
# Given every sink's entries at the branch's tip (again after a lost race), the sinks whose
# entries change, as they should be now; None or empty: nothing to write.
Change = Callable[[Callable[[str], dict[str, Entry]]], Mapping[str, dict[str, Entry]] | None]


class OutboxStore:
    """Reads and writes the outbox files on the notifications branch."""

    def __init__(self, repo: ConfigRepo, base_branch: str, who: Callable[[], Signature]) -> None:
        self._repo = repo
        self._base_branch = base_branch
        self._who = who
        self._parsed: dict[str, dict[str, Entry]] = {}  # blob id -> entries

    def update(self, change: Change, message: str) -> bool:
        """Run ``change`` on the branch's tip and push what it returns; True when a commit
        was pushed. TransientError after too many lost races; PermanentError when a file
        it needs is damaged."""

        def files(view: ReadView) -> dict[str, bytes | None] | None:
            changed = change(lambda sink: self._read(view, sink))
            if not changed:
                return None
            return {outbox.path_of(sink): outbox.encode(sink, e) for sink, e in changed.items()}

        who = self._who()
        if self._repo.tip(BRANCH) is None:
            if not change(lambda sink: {}):
                return False  # nothing to record: no fetch (each cycle would pay for one)
            self._repo.fetch()
        if self._repo.tip(BRANCH) is None:
            base = self._repo.tip(self._base_branch)
            if base is None:
                raise PermanentError(f"branch {self._base_branch!r} does not exist")
            try:
                pushed = self._repo.replace_branch(
                    BRANCH, files, base=base, expected_old=None,
                    message=message, author=who, committer=who,
                )  # fmt: skip
                return pushed.changed
            except LeaseRejected:
                self._repo.fetch()  # another replica made it first: add to theirs
        pushed = self._repo.update_branch(BRANCH, files, message=message, author=who, committer=who)
        return pushed.changed

    def _read(self, view: ReadView, sink: str) -> dict[str, Entry]:
        path = outbox.path_of(sink)
        blob = view.blob_id(path)
        if blob is None:
            return {}
        if blob not in self._parsed:
            if len(self._parsed) > 64:
                self._parsed.clear()
            self._parsed[blob] = outbox.decode(view.read(path) or b"", f"{path} on {BRANCH}")
        return dict(self._parsed[blob])
