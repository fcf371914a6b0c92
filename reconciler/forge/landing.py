"""Merges the local forge's records have not said yet: the base commit that holds a request's
head change and names the request in its ``Promotion-Request`` trailer.

If the process dies after a merge commit but before the record says merged, reads find the
commit by its trailer and report the request merged; the next write for it (``merge``, or
``open`` of its branch) records it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler import keptfile
from reconciler.forge.records import PROMOTION_REQUEST, RequestRecord
from reconciler.gitrepo.port import CommitInfo, ConfigRepo, FileChange

SEARCH_DEPTH = 20  # commits per changed file searched for a merge the record missed
FILE = "landings.json"  # the open requests' heads' changes, kept for the next process
_CACHE_LIMIT = 20_000

# A head commit's (first) parent, and what it changed relative to it.
Head = tuple[str | None, tuple[FileChange, ...]]


class Landings:
    """What the base branch already holds of requests' heads, with each head's change.

    A head's change is a comparison of two trees, about 10 ms beside a folder of 10,000
    overlays: with ``kept_file``, the open requests' ones are kept for the next process (a
    head commit names its parent and tree, so they never go stale; see reconciler.keptfile).
    """

    def __init__(self, repo: ConfigRepo, kept_file: Path | None = None) -> None:
        self._repo = repo
        self._heads: dict[str, Head] = {}  # head commit -> its parent and changes
        self._file = kept_file
        kept = keptfile.load(kept_file, "heads") if kept_file is not None else {}
        self._kept: dict[str, Head] = read_kept(kept)
        self._seen: dict[str, Head] = {}  # the heads asked about since the last keep()

    def keep(self) -> None:
        """Save the changes of the heads asked about since the last call, when they differ
        from the file's."""
        seen, self._seen = self._seen, {}
        if self._file is None or seen.keys() == self._kept.keys():
            return
        entries = {
            head: [parent, [[c.path, c.old_id, c.new_id] for c in changes]]
            for head, (parent, changes) in seen.items()
        }
        keptfile.save(self._file, "heads", entries)
        self._kept = seen

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
            found = self._kept.get(head)
            if found is None:
                parents = self._repo.commit_info(head).parents
                parent = parents[0] if parents else None
                found = (parent, self._repo.changed_paths(parent, head))
            if len(self._heads) > _CACHE_LIMIT:
                self._heads.clear()
            self._heads[head] = found
        self._seen[head] = self._heads[head]
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


def read_kept(entries: dict[str, object]) -> dict[str, Head]:
    """The kept file's heads; a malformed entry is left out (worked out again)."""
    out: dict[str, Head] = {}
    for head, value in entries.items():
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], list)):
            continue
        parent, listed = value
        changes = [
            FileChange(*c)
            for c in listed
            if isinstance(c, list)
            and len(c) == 3
            and isinstance(c[0], str)
            and all(x is None or isinstance(x, str) for x in c[1:])
        ]
        if (parent is None or isinstance(parent, str)) and len(changes) == len(listed):
            out[head] = (parent, tuple(changes))
    return out
