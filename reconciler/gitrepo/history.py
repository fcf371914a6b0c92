"""Which commits changed a path: git's default history simplification over any commit graph.

The graph is given as functions, so the same walk serves the pygit2 adapter and the
in-memory fake. A shallow clone's boundary commits have unknown parents; reaching one
before the walk is done raises Truncated, and the adapter deepens the clone and walks again.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence


class Truncated(Exception):
    """The walk needs the parents of a shallow clone's boundary commit."""

    def __init__(self, walked: int) -> None:
        super().__init__(f"history truncated after {walked} commits")
        self.walked = walked


def touching(
    start: str,
    *,
    entry: Callable[[str], str | None],
    parents: Callable[[str], Sequence[str]],
    time: Callable[[str], int],
    limit: int,
    first_parent: bool = False,
    boundary: Callable[[str], bool] = lambda _commit: False,
) -> list[str]:
    """Ids of up to ``limit`` commits from ``start`` that changed the entry, newest first.

    ``entry(commit)`` is the id of the path's entry in that commit (None if absent). A
    commit is shown when its entry differs from every parent's (a root: when it has one);
    when it equals some parent's, only the first such parent is followed, as ``git log``.
    """
    if limit < 1:
        return []
    entries: dict[str, str | None] = {}

    def entry_of(commit: str) -> str | None:
        if commit not in entries:
            entries[commit] = entry(commit)
        return entries[commit]

    found: list[str] = []
    queue: list[tuple[int, int, str]] = [(-time(start), 0, start)]
    seen = {start}
    order = 1
    walked = 0
    while queue and len(found) < limit:
        _, _, commit = heapq.heappop(queue)
        walked += 1
        if boundary(commit):
            raise Truncated(walked)
        ours = entry_of(commit)
        candidates = list(parents(commit))
        if first_parent:
            candidates = candidates[:1]
        same = [parent for parent in candidates if entry_of(parent) == ours]
        if same:
            follow = same[:1]
        else:
            if ours is not None or candidates:
                found.append(commit)
            follow = candidates
        for parent in follow:
            if parent not in seen:
                seen.add(parent)
                heapq.heappush(queue, (-time(parent), order, parent))
                order += 1
    return found


def first_parent_touching(
    start: str,
    wanted: Iterable[str],
    *,
    changed: Callable[[str, str | None, frozenset[str]], Iterable[str]],
    parents: Callable[[str], Sequence[str]],
    limit: int,
    stop: str | None = None,
    boundary: Callable[[str], bool] = lambda _commit: False,
) -> tuple[dict[str, list[str]], bool]:
    """For each wanted path, up to ``limit`` commits of the first-parent chain that changed
    it, newest first, in one walk; and whether ``stop`` (exclusive) was reached.

    ``changed(commit, parent, paths)`` names which of ``paths`` differ between ``parent``
    (None: the empty tree) and ``commit``. Walking once and diffing each commit against
    its parent costs the length of the chain; asking per path costs that times the paths.
    """
    found: dict[str, list[str]] = {path: [] for path in wanted}
    pending = frozenset(found)
    walked = 0
    commit: str | None = start
    # With a stop, walk on when nothing is pending: the caller needs to know whether the
    # stop is an ancestor (a fast-forward) before it trusts the histories it already has.
    while commit is not None and (pending or stop is not None):
        if commit == stop:
            return found, True
        walked += 1
        if boundary(commit):
            raise Truncated(walked)
        first = next(iter(parents(commit)), None)
        if pending:
            for path in changed(commit, first, pending):
                found[path].append(commit)
            pending = frozenset(p for p in pending if len(found[p]) < limit)
        commit = first
    return found, False
