"""A config repo checked out on disk: the RepoTree that `reconciler validate DIR` checks and
`reconciler pin` edits."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from reconciler.model import EntryKind


class DiskTree:
    """Answers RepoTree questions from a folder, following symlinks but not out of it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def kind(self, path: str) -> EntryKind:
        """What ``path`` is under the root; "escapes" when a symlink leads outside."""
        try:
            target = (self.root / path).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            return "missing"
        if target != self.root and self.root not in target.parents:
            return "escapes"
        if target.is_dir():
            return "dir"
        if target.exists():
            return "file"
        return "missing"

    def read(self, path: str) -> bytes | None:
        """The bytes of a regular file under the root, or None (missing, escaping, a folder)."""
        if self.kind(path) != "file":
            return None
        return (self.root / path).read_bytes()

    def names(self, path: str) -> tuple[str, ...]:
        """The entry names of the folder at ``path``, sorted; empty when it is no folder
        under the root (as ``gitrepo.port.ReadView.names``)."""
        if self.kind(path) != "dir":
            return ()
        return tuple(sorted(entry.name for entry in (self.root / path).iterdir()))

    def real_file(self, path: str) -> Path | None:
        """Where the regular file at ``path`` really is (symlinks followed, inside the
        root), to write it in place; None when ``path`` is no such file."""
        if self.kind(path) != "file":
            return None
        return (self.root / path).resolve()


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old file or the new, never half."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
