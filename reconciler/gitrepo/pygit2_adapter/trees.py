"""Trees: an entry found by path, the files two trees differ in, and a tree built from changes.

Comparisons descend only where subtree ids differ; writes rebuild only the folders a change
is in, bottom-up from the parent's tree.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import pygit2
from pygit2.enums import DeltaStatus, FileMode

from reconciler.errors import PolicyError
from reconciler.gitrepo import paths
from reconciler.gitrepo.blobcache import BlobCache
from reconciler.gitrepo.port import FileChange
from reconciler.gitrepo.pygit2_adapter.refs import held

_BIG = 512  # entries in a folder past which it is compared as a whole (see _big_diff)


@dataclass(frozen=True)
class _Layout:
    """A folder's raw tree: its bytes, those bytes as one number, where each entry starts."""

    raw: bytes
    number: int
    starts: list[int]


# One side of a comparison is the same folder again and again (the base branch's, for every
# open request's head; the last fetch's, for the next; a history step's parent, for the step
# before it): layouts are kept, for the side read from bytes too. Two, at about 2 MB each
# beside 10,000 overlays.
_LAYOUTS: BlobCache[_Layout] = BlobCache(max_entries=2)


def entry(tree: pygit2.Tree | None, path: str) -> pygit2.Object | None:
    """The object at ``path`` under ``tree`` (``tree`` itself for ""), or None."""
    if tree is None or not path:
        return tree
    try:
        return tree[held(path)]
    except KeyError:
        return None


def file_changes(
    old: pygit2.Tree | None,
    new: pygit2.Tree,
    prefixes: Sequence[str] | None,
    repo: pygit2.Repository | None = None,
) -> tuple[FileChange, ...]:
    """Files that differ between two trees under ``prefixes``, sorted by path (``repo``,
    the trees', lets a large folder be compared by its bytes: see ``changed_entries``)."""
    found: list[FileChange] = []
    for prefix in paths.clean_prefixes(prefixes):
        _diff(prefix, entry(old, prefix), entry(new, prefix), found, repo)
    return tuple(sorted(found, key=lambda change: change.path))


def _diff(
    path: str,
    old: pygit2.Object | None,
    new: pygit2.Object | None,
    out: list[FileChange],
    repo: pygit2.Repository | None = None,
) -> None:
    same_id = old is not None and new is not None and old.id == new.id
    if same_id and getattr(old, "filemode", None) == getattr(new, "filemode", None):
        return
    old_tree = old if isinstance(old, pygit2.Tree) else None
    new_tree = new if isinstance(new, pygit2.Tree) else None
    if old_tree is not None and new_tree is not None and _big(old_tree, new_tree):
        changed = changed_entries(old_tree, new_tree) if repo is not None else None
        if repo is None or changed is None:
            out.extend(_big_diff(path, old_tree, new_tree))
            return
        for name, old_id, new_id in changed:  # same names, same modes: only ids differ
            _diff(paths.join(path, name), repo[old_id], repo[new_id], out, repo)
        return
    if old_tree is not None or new_tree is not None:
        old_children = {str(c.name): c for c in old_tree} if old_tree is not None else {}
        new_children = {str(c.name): c for c in new_tree} if new_tree is not None else {}
        for name in sorted(old_children.keys() | new_children.keys()):
            child = paths.join(path, name)
            _diff(child, old_children.get(name), new_children.get(name), out, repo)
    old_file = old if old is not None and old_tree is None else None
    new_file = new if new is not None and new_tree is None else None
    if old_file is not None or new_file is not None:
        out.append(
            FileChange(
                path,
                str(old_file.id) if old_file is not None else None,
                str(new_file.id) if new_file is not None else None,
            )
        )


def _big(old: pygit2.Tree, new: pygit2.Tree) -> bool:
    """Whether a folder has more than ``_BIG`` entries: known without parsing it when a
    side's layout is kept (libgit2 parses a folder of 10,000 overlays to count it, 1.7 ms)."""
    known = _kept(old, new)
    return len(known.starts) > _BIG if known is not None else len(new) > _BIG


def _kept(old: pygit2.Tree, new: pygit2.Tree) -> _Layout | None:
    """The kept layout of either side, if any (only a big folder has one)."""
    return _LAYOUTS.get(str(old.id)) or _LAYOUTS.get(str(new.id))


def _big_diff(path: str, old: pygit2.Tree, new: pygit2.Tree) -> list[FileChange]:
    """``_diff`` of two large folders by libgit2 (a folder of 10,000 overlays: 6 ms,
    against 20-40 ms to list both in Python). Only for a folder, never the root: libgit2
    descends into subfolders whose ids match too, so a whole repo costs it more."""
    ids: dict[str, list[str | None]] = {}
    for delta in old.diff_to_tree(new).deltas:
        # A file turned into a link (or back) comes as a deletion and an addition of one
        # path: one change, as the walk gives it.
        if delta.status != DeltaStatus.ADDED:
            ids.setdefault(delta.old_file.path, [None, None])[0] = str(delta.old_file.id)
        if delta.status != DeltaStatus.DELETED:
            ids.setdefault(delta.new_file.path, [None, None])[1] = str(delta.new_file.id)
    return [
        FileChange(paths.join(path, name), old_id, new_id) for name, (old_id, new_id) in ids.items()
    ]


def changed_children(
    repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree, names: Sequence[str]
) -> list[tuple[str, pygit2.Object | None, pygit2.Object | None]]:
    """Those of ``names`` whose entries may differ between two versions of a folder, with
    each side's entry: all of them for a small folder, else only what a comparison finds
    changed (a folder of 10,000 overlays looked up name by name costs 30 ms a commit;
    compared, a few). Compared by bytes, the entries come by id, and neither folder is
    parsed (libgit2 parses a folder to find a name in it, 1 ms at 10,000 overlays): so a
    folder whose layout is kept is compared so even for one name."""
    if len(names) > _BIG or _kept(old, new) is not None:
        entries = changed_entries(old, new)
        if entries is not None:
            found = {name: (repo[old_id], repo[new_id]) for name, old_id, new_id in entries}
            return [(name, *found[name]) for name in names if name in found]
        changed: set[str] = set()
        for delta in old.diff_to_tree(new).deltas:
            changed.add(delta.old_file.path.split("/", 1)[0])
            changed.add(delta.new_file.path.split("/", 1)[0])
        names = [name for name in names if name in changed]
    return [(name, entry(old, name), entry(new, name)) for name in names]


def changed_entries(
    old: pygit2.Tree, new: pygit2.Tree
) -> list[tuple[str, pygit2.Oid, pygit2.Oid]] | None:
    """The entries (name, old id, new id) of two versions of a folder whose ids differ, read
    from the trees' bytes; None unless both list the same names with the same modes (an
    entry added, removed, renamed or changed in mode: libgit2 compares those).

    A promotion or a history step changes one entry of a folder of 10,000 overlays: its
    id's 20 bytes in 350 KB. The two trees' bytes, taken as numbers and XORed, give the
    first and last byte that differ; only the entries between them are read. 2-3 ms a
    comparison there, against 14-17 ms for libgit2's, which parses both trees whole.

    Where it answers, both sides have one layout, so it is kept for the side read from
    bytes too: the next comparison (the next cycle's fetch against this one's newer side,
    the next step back in a history against its older side) reads no entry one by one."""
    known = _LAYOUTS.get(str(old.id))
    if known is None and (known := _LAYOUTS.get(str(new.id))) is not None:
        swapped = _same_layout(known, old)
        return None if swapped is None else [(n, b, a) for n, a, b in swapped]
    if known is None:
        known = _LAYOUTS.get_or_parse(str(old.id), lambda: _layout(old.read_raw()))
    return _same_layout(known, new)


def _same_layout(
    known: _Layout, other: pygit2.Tree
) -> list[tuple[str, pygit2.Oid, pygit2.Oid]] | None:
    """``changed_entries`` of the folder whose layout is ``known`` and ``other``, in that
    order."""
    kept = _LAYOUTS.get(str(other.id))
    raw = kept.raw if kept is not None else other.read_raw()
    if len(raw) != len(known.raw):
        return None
    number = kept.number if kept is not None else int.from_bytes(raw, "big")
    differ = known.number ^ number
    if not differ:
        return []
    size = len(raw)
    first = size - 1 - (differ.bit_length() - 1) // 8
    last = size - 1 - ((differ & -differ).bit_length() - 1) // 8
    found = []
    low = bisect.bisect_right(known.starts, first) - 1
    high = bisect.bisect_right(known.starts, last) - 1
    for start in known.starts[low : high + 1]:
        at = known.raw.index(b"\0", start) + 1
        header = known.raw[start : at - 1]
        if raw[start:at] != known.raw[start:at] or not header.isascii():
            return None  # another name or mode here (or a name not in ASCII): not one layout
        if header.startswith(b"160000 "):
            return None  # a submodule's commit is not in this repository to descend into
        side_id, other_id = known.raw[at : at + 20], raw[at : at + 20]
        if side_id != other_id:
            name = header.split(b" ", 1)[1].decode()
            found.append((name, pygit2.Oid(raw=side_id), pygit2.Oid(raw=other_id)))
    # Bytes outside [first, last] are equal and every header inside it is: the same entries
    # start at the same places.
    _LAYOUTS.preload({str(other.id): _Layout(raw, number, known.starts)})
    return found


def _layout(raw: bytes) -> _Layout:
    """Where each entry of a raw tree (``MODE NAME\\0`` and a 20-byte id) starts."""
    starts = []
    at = 0
    while at < len(raw):
        starts.append(at)
        at = raw.index(b"\0", at) + 21
    return _Layout(raw, int.from_bytes(raw, "big"), starts)


def write_tree(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: paths.Nested, where: str
) -> pygit2.Oid | None:
    """``tree`` (None: an empty one) with ``changes`` applied, written to ``repo``; None
    when a folder below the root ends up empty."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    for name, change in changes.items():
        path = paths.join(where, name)
        existing = entry(tree, name)
        mode = getattr(existing, "filemode", None)
        if change is None or (
            isinstance(change, dict)
            and not isinstance(existing, pygit2.Tree)
            and paths.only_deletions(change)
        ):
            if change is None and existing is not None:
                builder.remove(name)
            continue
        if mode == FileMode.LINK:
            raise PolicyError(f"{path} is a symlink in the repo; write the file it points to")
        if isinstance(change, dict):
            if existing is not None and not isinstance(existing, pygit2.Tree):
                raise PolicyError(f"cannot write under {path}: it is a file in the repo")
            sub = write_tree(repo, existing, change, path)
            if sub is None:
                if existing is not None:
                    builder.remove(name)
            else:
                builder.insert(name, sub, FileMode.TREE)
            continue
        if isinstance(existing, pygit2.Tree):
            raise PolicyError(f"cannot write the file {path}: it is a folder in the repo")
        keep_exec = mode == FileMode.BLOB_EXECUTABLE
        builder.insert(
            name, repo.create_blob(change), FileMode.BLOB_EXECUTABLE if keep_exec else FileMode.BLOB
        )
    if where and len(builder) == 0:
        return None  # git stores no empty folders: drop it from its parent
    return builder.write()
