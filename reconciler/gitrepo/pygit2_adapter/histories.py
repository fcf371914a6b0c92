"""History walks over the clone: one file's commits, or many files' first-parent commits in
one walk; a shallow clone is deepened as far as a walk needs (history.py decides the walk)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pygit2

from reconciler.gitrepo import history, paths
from reconciler.gitrepo.port import CommitInfo, FileHistories
from reconciler.gitrepo.pygit2_adapter.clone import Clone, find_commit, shallow_roots
from reconciler.gitrepo.pygit2_adapter.commits import info
from reconciler.gitrepo.pygit2_adapter.trees import changed_children, entry


def file_history(
    clone: Clone, commit: str, path: str, limit: int, *, first_parent: bool
) -> tuple[CommitInfo, ...]:
    """Commits from ``commit`` that changed ``path``, newest first, deepening if shallow."""
    path = paths.clean_path(path)
    start = str(clone.commit(commit).id)
    while True:
        roots = clone.shallow_roots()
        try:
            ids = history.touching(
                start,
                entry=lambda c: _entry_id(clone.commit(c), path),
                parents=lambda c: [str(p) for p in clone.commit(c).parent_ids],
                time=lambda c: clone.commit(c).commit_time,
                limit=limit,
                first_parent=first_parent,
                boundary=roots.__contains__,
            )
            return tuple(info(clone.commit(c)) for c in ids)
        except history.Truncated as truncated:
            clone.deepen(truncated.walked)


class Walkable(Protocol):
    """What a walk of many files reads of a clone (``Clone``, or ``Opened``)."""

    repo: pygit2.Repository

    def commit(self, commit: str) -> pygit2.Commit: ...

    def shallow_roots(self) -> frozenset[str]: ...

    def deepen(self, walked: int) -> None: ...


class _Shallow(Exception):
    """A walk in another process reached a shallow clone's end: only the daemon fetches."""


class Opened:
    """The clone at a path opened afresh by another process, read-only: it walks, but
    cannot deepen (``_Shallow``)."""

    def __init__(self, path: str) -> None:
        self.repo = pygit2.Repository(path)

    def commit(self, commit: str) -> pygit2.Commit:
        return find_commit(self.repo, commit)

    def shallow_roots(self) -> frozenset[str]:
        return shallow_roots(self.repo)

    def deepen(self, walked: int) -> None:
        raise _Shallow(walked)


def walk_at(path: str, commit: str, files: Sequence[str], limit: int) -> FileHistories | None:
    """``file_histories`` in another process, on the clone at ``path``; None where it
    needs more history than a shallow clone holds (the daemon walks, and deepens, then)."""
    try:
        return file_histories(Opened(path), commit, files, limit, None)
    except _Shallow:
        return None


def file_histories(
    clone: Walkable, commit: str, files: Iterable[str], limit: int, stop: str | None
) -> FileHistories:
    """Many files' first-parent histories in one walk, deepening if shallow."""
    wanted = frozenset(paths.clean_path(f) for f in files)
    folders = frozenset(
        path.rsplit("/", depth)[0] for path in wanted for depth in range(1, path.count("/") + 1)
    )
    children: dict[str, list[str]] = {}
    for leads in sorted(wanted | folders):
        parent, _, name = leads.rpartition("/")
        children.setdefault(parent, []).append(name)
    under = {parent: tuple(names) for parent, names in children.items()}
    infos: dict[str, CommitInfo] = {}

    def changed(commit_id: str, parent: str | None, pending: frozenset[str]) -> list[str]:
        new_tree = clone.commit(commit_id).tree
        old_tree = clone.commit(parent).tree if parent is not None else None
        out: list[str] = []
        sought = _Sought(pending, folders, under, clone.repo)
        _changed_files("", old_tree, new_tree, sought, out)
        return out

    def info_of(commit_id: str) -> CommitInfo:
        if commit_id not in infos:
            infos[commit_id] = info(clone.commit(commit_id))
        return infos[commit_id]

    start = str(clone.commit(commit).id)
    while True:
        roots = clone.shallow_roots()
        try:
            found, stopped = history.first_parent_touching(
                start,
                wanted,
                changed=changed,
                parents=lambda c: [str(p) for p in clone.commit(c).parent_ids],
                limit=limit,
                stop=stop,
                boundary=roots.__contains__,
            )
            return FileHistories(
                {path: tuple(info_of(c) for c in ids) for path, ids in found.items()},
                stopped,
            )
        except history.Truncated as truncated:
            clone.deepen(truncated.walked)


def _entry_id(commit: pygit2.Commit, path: str) -> str | None:
    found = entry(commit.tree, path)
    return None if found is None else f"{found.id}:{getattr(found, 'filemode', 0)}"


@dataclass(frozen=True)
class _Sought:
    """The paths a step of a walk looks for, the folders that lead to them, and where."""

    wanted: frozenset[str]
    folders: frozenset[str]
    under: Mapping[str, tuple[str, ...]]  # the names in a folder that lead to a wanted path
    repo: pygit2.Repository


def _changed_files(
    path: str,
    old: pygit2.Object | None,
    new: pygit2.Object | None,
    sought: _Sought,
    out: list[str],
) -> None:
    """The wanted paths whose entries differ, descending only into folders that lead to one.

    Each folder's children are looked up by name (``sought.under``: the names that lead to
    a wanted path), never listed: a folder of 10,000 overlays costs one lookup, not 10,000."""
    if old is None and new is None:
        return  # in neither tree: nothing changed there
    same_id = old is not None and new is not None and old.id == new.id
    if same_id and getattr(old, "filemode", None) == getattr(new, "filemode", None):
        return
    if path in sought.wanted:
        out.append(path)
    if path and path not in sought.folders:
        return
    old_tree = old if isinstance(old, pygit2.Tree) else None
    new_tree = new if isinstance(new, pygit2.Tree) else None
    names: Sequence[str] = sought.under.get(path, ())
    if old_tree is not None and new_tree is not None:
        children = changed_children(sought.repo, old_tree, new_tree, names)
    else:
        children = [(name, entry(old_tree, name), entry(new_tree, name)) for name in names]
    for name, old_child, new_child in children:
        child = f"{path}/{name}" if path else name
        if child in sought.wanted or child in sought.folders:
            _changed_files(child, old_child, new_child, sought, out)
