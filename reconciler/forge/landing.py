"""Merges the local forge's records have not said yet: the base commit that holds a request's
head change and names the request in its ``Promotion-Request`` trailer.

If the process dies after a merge commit but before the record says merged, reads find the
commit by its trailer and report the request merged; the next write for it (``merge``, or
``open`` of its branch) records it.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.forge.records import PROMOTION_REQUEST, RequestRecord
from reconciler.gitrepo.port import CommitInfo, ConfigRepo, FileChange

SEARCH_DEPTH = 20  # commits per changed file searched for a merge the record missed
_CACHE_LIMIT = 20_000

# A head commit's (first) parent, and what it changed relative to it.
Head = tuple[str | None, tuple[FileChange, ...]]


class Landings:
    """What the base branch already holds of requests' heads, with each head's change."""

    def __init__(self, repo: ConfigRepo) -> None:
        self._repo = repo
        self._heads: dict[str, Head] = {}  # head commit -> its parent and changes

    def current(self, record: RequestRecord) -> RequestRecord:
        """``record``, or merged when it is open and its merge landed unrecorded."""
        if record.state != "open":
            return record
        return self.landed(record, self._repo.tip(record.head_branch))

    def landed(self, record: RequestRecord, tip: str | None) -> RequestRecord:
        """``record``, merged if the base holds its head's change in a commit naming it."""
        if record.state != "open" or tip is None:
            return record
        base = self._repo.tip(record.base_branch)
        parent, changes = self.head(tip)
        if base is None or not changes:
            return record
        if not holds_change(self._repo, tip, parent, base, changes):
            return record  # cheap tests first: the base does not have the head's change
        found = self.merge_commit(record, [c.path for c in changes], base)
        return record.merged(found.id, found.time, tip) if found else record

    def merge_commit(self, record: RequestRecord, paths: list[str], base: str) -> CommitInfo | None:
        """The base commit that merged ``record`` (by its trailer), among recent ones."""
        since = record.created_at.replace(microsecond=0)
        for path in paths:
            for info in self._repo.history(base, path, limit=SEARCH_DEPTH):
                if info.trailer(PROMOTION_REQUEST) == str(record.number) and info.time >= since:
                    return info
        return None

    def head(self, head: str) -> Head:
        """The head commit's (first) parent, and what it changed relative to it."""
        if head not in self._heads:
            parents = self._repo.commit_info(head).parents
            parent = parents[0] if parents else None
            if len(self._heads) > _CACHE_LIMIT:
                self._heads.clear()
            self._heads[head] = (parent, self._repo.changed_paths(parent, head))
        return self._heads[head]


def holds_change(
    repo: ConfigRepo, head: str, parent: str | None, base: str, changes: Sequence[FileChange]
) -> bool:
    """Whether ``base`` already has every change ``head`` makes (merged, maybe three ways)."""
    for change in changes:
        now_id = repo.blob_id(base, change.path)
        if now_id == change.new_id:
            continue
        if now_id == change.old_id or now_id is None or change.new_id is None or not parent:
            return False
        merged = repo.merged_file(parent, base, head, change.path)
        if merged is None or merged != repo.read(base, change.path):
            return False
    return True
