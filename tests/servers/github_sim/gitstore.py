"""The simulated repository's git data: a real bare repository on disk, read and merged with pygit2.

Anyone may push to it (``git push <path>``) while the simulator runs: branch tips are read
from disk on every request, as GitHub reads its refs. Merges are real: the merge commit (or
squash commit) is built from libgit2's three-way merge of the base and head tips, and the
base branch moves with a compare-and-swap (``git update-ref <new> <old>``), so a push that
lands in between is never overwritten.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import pygit2
from pygit2.enums import FileMode, ObjectType

MergeMethod = Literal["merge", "squash"]


@dataclass(frozen=True)
class Person:
    """An author or committer of a commit."""

    name: str
    email: str
    at: datetime


@dataclass(frozen=True)
class CommitInfo:
    """What the API shows of a commit."""

    sha: str
    tree: str
    message: str
    author: Person
    committer: Person
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """A file or folder of a tree, as the contents API lists it."""

    name: str
    path: str
    kind: Literal["file", "dir", "symlink", "submodule"]
    sha: str
    size: int


class GitStore:
    """A bare repository: branch tips, files at a commit, diffs, and real merges."""

    def __init__(self, path: Path, default_branch: str = "main") -> None:
        self.path = path
        if (path / "HEAD").exists():
            self.repo = pygit2.Repository(str(path))
        else:
            self.repo = pygit2.init_repository(str(path), bare=True, initial_head=default_branch)

    def tip(self, branch: str) -> str | None:
        """The commit ``branch`` points at, or None when there is no such branch."""
        ref = self.repo.references.get(f"refs/heads/{branch}")
        return str(ref.resolve().target) if ref is not None else None

    def branches(self) -> list[tuple[str, str]]:
        """Every branch and its tip, by name."""
        found = []
        for name in self.repo.references:
            if name.startswith("refs/heads/"):
                target = self.repo.references[name].resolve().target
                found.append((name.removeprefix("refs/heads/"), str(target)))
        return sorted(found)

    def resolve(self, ref: str) -> str | None:
        """A branch name or a full commit id, as a commit id; None when neither."""
        tip = self.tip(ref)
        if tip is not None:
            return tip
        return ref if len(ref) == 40 and self.has_commit(ref) else None

    def has_commit(self, sha: str) -> bool:
        """True when ``sha`` names a commit of this repository."""
        try:
            obj = self.repo.get(sha)
        except ValueError:
            return False
        return obj is not None and obj.type == ObjectType.COMMIT

    def commit_info(self, sha: str) -> CommitInfo:
        """The commit ``sha``."""
        commit = self._commit(sha)
        return CommitInfo(
            sha=str(commit.id),
            tree=str(commit.tree_id),
            message=commit.message,
            author=_person(commit.author),
            committer=_person(commit.committer),
            parents=tuple(str(p) for p in commit.parent_ids),
        )

    def read(self, commit: str, path: str) -> bytes | None:
        """The file at ``path`` in ``commit``, or None when there is no such file."""
        obj = self._lookup(commit, path)
        return obj.data if isinstance(obj, pygit2.Blob) else None

    def entry(self, commit: str, path: str) -> Entry | list[Entry] | None:
        """A file's entry, a folder's entries, or None."""
        clean = path.strip("/")
        obj = self._lookup(commit, clean)
        if obj is None:
            return None
        if isinstance(obj, pygit2.Tree):
            return [self._entry(item, f"{clean}/{item.name}".lstrip("/")) for item in obj]
        name = clean.rsplit("/", 1)[-1]
        return Entry(
            name, clean, "file", str(obj.id), obj.size if isinstance(obj, pygit2.Blob) else 0
        )

    def merge_base(self, base: str, head: str) -> str | None:
        """The best common ancestor of two commits, or None when they share no history."""
        found = self.repo.merge_base(base, head)
        return str(found) if found is not None else None

    def changed_files(self, base: str, head: str) -> list[str]:
        """Paths a pull request from ``head`` into ``base`` changes (three-dot diff)."""
        since = self.merge_base(base, head)
        old = self._commit(since).tree if since else None
        new = self._commit(head).tree
        diff = old.diff_to_tree(new) if old is not None else new.diff_to_tree(swap=True)
        paths = set()
        for delta in diff.deltas:
            paths.add(delta.new_file.path)
            paths.add(delta.old_file.path)
        return sorted(paths)

    def commits_between(self, base: str, head: str) -> int:
        """How many commits ``head`` has that ``base`` does not."""
        ahead, _ = self.repo.ahead_behind(head, base)
        return int(ahead)

    def new_commits(self, head: str, base: str | None) -> list[str]:
        """Commits ``head`` has that ``base`` does not (all of them without a ``base``)."""
        walker = self.repo.walk(pygit2.Oid(hex=head))
        if base is not None:
            walker.hide(pygit2.Oid(hex=base))
        return [str(commit.id) for commit in walker]

    def conflicts(self, base: str, head: str) -> bool:
        """True when merging ``head`` into ``base`` conflicts."""
        return self._merged_index(base, head).conflicts is not None

    def merge(self, base: str, head: str, method: MergeMethod, message: str, author: Person) -> str:
        """Write the commit merging ``head`` into ``base`` (no ref moves); its id."""
        index = self._merged_index(base, head)
        if index.conflicts is not None:
            raise ValueError("the merge conflicts")
        tree = index.write_tree(self.repo)
        parents = [pygit2.Oid(hex=base)]
        if method == "merge":
            parents.append(pygit2.Oid(hex=head))
        committer = Person("GitHub", "noreply@github.com", author.at)
        oid = self.repo.create_commit(
            None, _signature(author), _signature(committer), message, tree, parents
        )
        return str(oid)

    def advance(self, branch: str, new: str, old: str | None) -> bool:
        """Move ``branch`` from ``old`` to ``new`` unless someone moved it first."""
        expected = old if old is not None else "0" * 40
        done = subprocess.run(
            ["git", "update-ref", f"refs/heads/{branch}", new, expected],
            cwd=self.path,
            env={**_hermetic(), "GIT_DIR": str(self.path)},
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def set_branch(self, branch: str, commit: str | None) -> None:
        """Point ``branch`` at ``commit`` whatever it was (None deletes it): a force push."""
        name = f"refs/heads/{branch}"
        args = ["update-ref", "-d", name] if commit is None else ["update-ref", name, commit]
        subprocess.run(
            ["git", *args],
            cwd=self.path,
            env={**_hermetic(), "GIT_DIR": str(self.path)},
            capture_output=True,
            check=True,
        )

    def commit(
        self,
        branch: str,
        files: Mapping[str, bytes | None],
        message: str,
        author: Person | None = None,
        parent: str | None = None,
    ) -> str:
        """Commit ``files`` (None deletes) on top of ``branch`` (or ``parent``), as a push."""
        old = self.tip(branch)
        base = parent or old
        tree = self._commit(base).tree if base else None
        for path, data in files.items():
            tree_id = _put(self.repo, tree, path.strip("/").split("/"), data)
            tree = self.repo[tree_id].peel(pygit2.Tree)
        if tree is None:
            tree = self.repo[self.repo.TreeBuilder().write()].peel(pygit2.Tree)
        who = author or Person("Pusher", "pusher@example.com", datetime.now(UTC))
        parents = [pygit2.Oid(hex=base)] if base else []
        oid = self.repo.create_commit(
            None, _signature(who), _signature(who), message, tree.id, parents
        )
        if not self.advance(branch, str(oid), old):
            raise RuntimeError(f"{branch} moved while committing")
        return str(oid)

    def _merged_index(self, base: str, head: str) -> pygit2.Index:
        ancestor = self.merge_base(base, head)
        if ancestor is None:
            empty = self.repo.TreeBuilder().write()
            return self.repo.merge_trees(empty, self._commit(base).tree, self._commit(head).tree)
        return self.repo.merge_trees(
            self._commit(ancestor).tree, self._commit(base).tree, self._commit(head).tree
        )

    def _commit(self, sha: str) -> pygit2.Commit:
        return self.repo[sha].peel(pygit2.Commit)

    def _lookup(self, commit: str, path: str) -> pygit2.Object | None:
        tree = self._commit(commit).tree
        clean = path.strip("/")
        if not clean:
            return tree
        try:
            entry = tree[clean]
        except KeyError:
            return None
        return self.repo[entry.id]

    def _entry(self, item: pygit2.Object, path: str) -> Entry:
        mode = getattr(item, "filemode", FileMode.BLOB)
        kind: Literal["file", "dir", "symlink", "submodule"] = "file"
        size = 0
        if mode == FileMode.TREE:
            kind = "dir"
        elif mode == FileMode.LINK:
            kind = "symlink"
        elif mode == FileMode.COMMIT:
            kind = "submodule"
        else:
            blob = self.repo[item.id]
            size = blob.size if isinstance(blob, pygit2.Blob) else 0
        return Entry(str(item.name), path, kind, str(item.id), size)


def _put(
    repo: pygit2.Repository, tree: pygit2.Tree | None, parts: list[str], data: bytes | None
) -> pygit2.Oid:
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    name, rest = parts[0], parts[1:]
    existing = tree[name] if tree is not None and name in tree else None
    if rest:
        subtree = repo[existing.id].peel(pygit2.Tree) if existing is not None else None
        child = _put(repo, subtree, rest, data)
        if len(repo[child].peel(pygit2.Tree)) == 0:
            if existing is not None:
                builder.remove(name)
        else:
            builder.insert(name, child, FileMode.TREE)
    elif data is None:
        if existing is not None:
            builder.remove(name)
    else:
        builder.insert(name, repo.create_blob(data), FileMode.BLOB)
    return builder.write()


def _person(signature: pygit2.Signature) -> Person:
    zone = timezone(timedelta(minutes=signature.offset))
    return Person(signature.name, signature.email, datetime.fromtimestamp(signature.time, zone))


def _signature(person: Person) -> pygit2.Signature:
    offset = person.at.utcoffset() or timedelta(0)
    return pygit2.Signature(
        person.name, person.email, int(person.at.timestamp()), int(offset.total_seconds() // 60)
    )


def _hermetic() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": os.devnull,
    }
