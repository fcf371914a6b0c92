"""A config repo checked out on disk: the RepoTree that `reconciler validate DIR` checks."""

from __future__ import annotations

from pathlib import Path

from reconciler.policy.tree import EntryKind


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
