"""One commit's files as the port's ReadView, resolved through in-repo symlinks."""

from __future__ import annotations

import threading

import pygit2
from pygit2.enums import FileMode

from reconciler.gitrepo import paths
from reconciler.gitrepo.pygit2_adapter.trees import entry
from reconciler.model import EntryKind

_ROOT = paths.Resolved("dir", "")


class TreeView:
    """One commit's files, resolved through in-repo symlinks."""

    def __init__(self, lock: threading.RLock, commit: pygit2.Commit) -> None:
        self._lock = lock
        self._commit = commit
        self._root = commit.tree
        # A commit's tree never changes, so entries looked up once are kept: libgit2 would
        # otherwise inflate every folder on the path again for each file read.
        self._entries: dict[str, pygit2.Object | None] = {"": self._root}
        self._resolved: dict[str, paths.Resolved] = {}

    def _entry(self, path: str) -> pygit2.Object | None:
        if path in self._entries:
            return self._entries[path]
        parent_path, _, name = path.rpartition("/")
        parent = self._entry(parent_path)
        found = entry(parent, name) if isinstance(parent, pygit2.Tree) else None
        self._entries[path] = found
        return found

    @property
    def commit(self) -> str:
        return str(self._commit.id)

    def kind(self, path: str) -> EntryKind:
        return self._resolve(path).kind

    def read(self, path: str) -> bytes | None:
        blob = self._blob(path)
        return blob.data if blob is not None else None

    def blob_id(self, path: str) -> str | None:
        blob = self._blob(path)
        return str(blob.id) if blob is not None else None

    def names(self, path: str) -> tuple[str, ...]:
        with self._lock:
            found = self._resolve(path)
            if found.kind != "dir":
                return ()
            tree = self._entry(found.path)
            if not isinstance(tree, pygit2.Tree):
                return ()
            return tuple(sorted(str(child.name) for child in tree))

    def real_path(self, path: str) -> str | None:
        found = self._resolve(path)
        return found.path if found.kind in ("file", "dir") else None

    def _blob(self, path: str) -> pygit2.Blob | None:
        with self._lock:
            found = self._resolve(path)
            if found.kind != "file":
                return None
            blob = self._entry(found.path)
            return blob if isinstance(blob, pygit2.Blob) else None

    def _resolve(self, path: str) -> paths.Resolved:
        found = self._resolved.get(path)  # a kept resolution touches no libgit2 object
        if found is not None:
            return found
        with self._lock:
            found = self._resolved.get(path)
            if found is None:
                found = self._resolve_clean(paths.clean_path(path))
                self._resolved[path] = found
            return found

    def _resolve_clean(self, path: str) -> paths.Resolved:
        """Resolve ``path`` from its parent folder's resolution, itself kept: thousands of
        overlays under a few folders then cost one step each, not one per folder."""
        found = self._resolved.get(path)
        if found is not None:
            return found
        parent, _, name = path.rpartition("/")
        folder = self._resolve_clean(parent) if parent else _ROOT
        if folder.kind == "dir":
            found = self._step(folder.path, name)
        else:  # through a file or a missing folder: missing; out of the repo: escapes
            found = folder if folder.kind == "escapes" else paths.Resolved("missing")
        self._resolved[path] = found
        return found

    def _step(self, folder: str, name: str) -> paths.Resolved:
        """``name`` in the real folder ``folder``: a folder or file found directly, else
        (a link, or nothing there) as ``paths.resolve`` follows it."""
        found = self._entry(paths.join(folder, name))
        if isinstance(found, pygit2.Tree):
            return paths.Resolved("dir", paths.join(folder, name))
        if isinstance(found, pygit2.Blob) and found.filemode != FileMode.LINK:
            return paths.Resolved("file", paths.join(folder, name))
        return paths.resolve(name, self._lookup, start=folder)

    def _lookup(self, path: str) -> paths.Entry | None:
        found = self._entry(path)
        if found is None:
            return None
        if isinstance(found, pygit2.Tree) or found.filemode == FileMode.COMMIT:
            return paths.Entry("tree")
        if found.filemode == FileMode.LINK and isinstance(found, pygit2.Blob):
            return paths.Entry("link", found.data.decode("utf-8", "surrogateescape"))
        return paths.Entry("blob")
