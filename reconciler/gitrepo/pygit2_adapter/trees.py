"""Trees: an entry found by path, the files two trees differ in, and a tree built from changes.

Comparisons descend only where subtree ids differ; writes rebuild only the folders a change
is in, bottom-up from the parent's tree.
"""

from __future__ import annotations

from collections.abc import Sequence

import pygit2
from pygit2.enums import DeltaStatus, FileMode

from reconciler.errors import PolicyError
from reconciler.gitrepo import paths
from reconciler.gitrepo.port import FileChange
from reconciler.gitrepo.pygit2_adapter.refs import held


def entry(tree: pygit2.Tree | None, path: str) -> pygit2.Object | None:
    """The object at ``path`` under ``tree`` (``tree`` itself for ""), or None."""
    if tree is None or not path:
        return tree
    try:
        return tree[held(path)]
    except KeyError:
        return None


def file_changes(
    old: pygit2.Tree | None, new: pygit2.Tree, prefixes: Sequence[str] | None
) -> tuple[FileChange, ...]:
    """Files that differ between two trees under ``prefixes``, sorted by path.

    libgit2 compares the trees (it skips subtrees whose ids match), so a change in a folder
    of 10,000 overlays costs no Python object per entry.
    """
    wanted = paths.clean_prefixes(prefixes)
    diff = old.diff_to_tree(new) if old is not None else new.diff_to_tree(swap=True)
    ids: dict[str, list[str | None]] = {}
    for delta in diff.deltas:
        # A file turned into a link (or back) comes as a deletion and an addition of one
        # path: one change, as a modification.
        if delta.status != DeltaStatus.ADDED:
            path = str(delta.old_file.path)
            ids.setdefault(path, [None, None])[0] = str(delta.old_file.id)
        if delta.status != DeltaStatus.DELETED:
            path = str(delta.new_file.path)
            ids.setdefault(path, [None, None])[1] = str(delta.new_file.id)
    return tuple(
        FileChange(path, old_id, new_id)
        for path, (old_id, new_id) in sorted(ids.items())
        if any(paths.is_under(path, prefix) for prefix in wanted)
    )


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
