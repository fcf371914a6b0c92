"""A config repo remote plus clients of it, in two flavours: in memory, and real git on disk.

The contract tests run the same cases against both; the integration tests use the real one.
``seed`` writes commits on the remote directly, as another user (or CI) would.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pygit2

from reconciler.gitrepo.credentials import Credentials
from reconciler.gitrepo.port import CommitSigner, ConfigRepo, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from tests.fakes.gitrepo import FakeConfigRepo, FakeRemote

EPOCH = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def seed_signature(step: int) -> Signature:
    """A distinct, ordered commit time per seed, so history order is certain."""
    return Signature("Seeder", "seed@example.com", EPOCH + timedelta(minutes=step))


class World(Protocol):
    """A remote config repo that tests can write to directly, and clients of it."""

    def seed(
        self,
        files: Mapping[str, bytes],
        *,
        links: Mapping[str, str] | None = None,
        message: str = "seed\n",
        branch: str = "main",
        parent: str | None = None,
    ) -> str:
        """Commit exactly ``files`` (+ ``links``) on top of ``branch`` (or ``parent``)."""
        ...

    def client(self, max_attempts: int = 5) -> ConfigRepo:
        """A new client with its own clone (or tracking view)."""
        ...

    def set_branch(self, branch: str, commit: str | None) -> None:
        """Move or delete a remote branch directly, as a force-push by someone else."""
        ...

    def remote_tip(self, branch: str) -> str | None:
        """The remote branch's value, read on the remote itself."""
        ...

    def remote_files(self, commit: str) -> dict[str, bytes]:
        """Every file of ``commit``, read on the remote itself."""
        ...


class FakeWorld:
    """The in-memory flavour."""

    def __init__(self, signer: CommitSigner | None = None) -> None:
        self.remote = FakeRemote()
        self.signer = signer  # every client signs its commits with it
        self._steps = itertools.count()

    def seed(
        self,
        files: Mapping[str, bytes],
        *,
        links: Mapping[str, str] | None = None,
        message: str = "seed\n",
        branch: str = "main",
        parent: str | None = None,
    ) -> str:
        parent = parent or self.remote.refs.get(branch)
        who = seed_signature(next(self._steps))
        commit = self.remote.commit(
            files, parents=[parent] if parent else [], links=links, message=message, author=who
        )
        self.remote.set_branch(branch, commit)
        return commit

    def client(self, max_attempts: int = 5) -> ConfigRepo:
        return FakeConfigRepo(self.remote, max_attempts=max_attempts, signer=self.signer)

    def set_branch(self, branch: str, commit: str | None) -> None:
        self.remote.set_branch(branch, commit)

    def remote_tip(self, branch: str) -> str | None:
        return self.remote.refs.get(branch)

    def remote_files(self, commit: str) -> dict[str, bytes]:
        return {p: data for p, (_, data) in self.remote.commits[commit].files.items()}


class GitWorld:
    """The real flavour: a bare repository on disk, clients with their own cache folders."""

    def __init__(
        self,
        root: Path,
        url: str | None = None,
        credentials: Credentials | None = None,
        signer: CommitSigner | None = None,
    ) -> None:
        self.root = root
        self.signer = signer  # every client signs its commits with it
        self.path = root / "remote.git"
        self.repo = pygit2.init_repository(str(self.path), bare=True, initial_head="main")
        self.url = url or str(self.path)
        self.credentials = credentials
        self._steps = itertools.count()
        self._clients = itertools.count()

    def seed(
        self,
        files: Mapping[str, bytes],
        *,
        links: Mapping[str, str] | None = None,
        message: str = "seed\n",
        branch: str = "main",
        parent: str | None = None,
    ) -> str:
        parent = parent or self.remote_tip(branch)
        entries: dict[str, tuple[bytes, int]] = {
            p: (data, pygit2.enums.FileMode.BLOB) for p, data in files.items()
        }
        for p, target in (links or {}).items():
            entries[p] = (target.encode(), pygit2.enums.FileMode.LINK)
        tree = write_tree(self.repo, entries)
        who = seed_signature(next(self._steps))
        sig = pygit2.Signature(who.name, who.email, int(who.time.timestamp()), 0)
        commit = self.repo.create_commit(
            None, sig, sig, message, tree, [pygit2.Oid(hex=parent)] if parent else []
        )
        self.repo.references.create(f"refs/heads/{branch}", commit, force=True)
        return str(commit)

    def client(self, max_attempts: int = 5) -> ConfigRepo:
        cache = self.root / f"cache-{next(self._clients)}"
        return Pygit2ConfigRepo.open(
            self.url,
            cache,
            max_attempts=max_attempts,
            depth=0,
            credentials=self.credentials,
            signer=self.signer,
        )

    def set_branch(self, branch: str, commit: str | None) -> None:
        name = f"refs/heads/{branch}"
        if commit is None:
            self.repo.references.delete(name)
        else:
            self.repo.references.create(name, commit, force=True)

    def remote_tip(self, branch: str) -> str | None:
        ref = pygit2.Repository(str(self.path)).references.get(f"refs/heads/{branch}")
        return str(ref.target) if ref is not None else None

    def remote_files(self, commit: str) -> dict[str, bytes]:
        repo = pygit2.Repository(str(self.path))
        found: dict[str, bytes] = {}

        def walk(tree: pygit2.Tree, base: str) -> None:
            for child in tree:
                path = f"{base}{child.name}"
                if isinstance(child, pygit2.Tree):
                    walk(child, path + "/")
                elif isinstance(child, pygit2.Blob):
                    found[path] = child.data

        walk(repo[commit].peel(pygit2.Commit).tree, "")
        return found


def write_tree(repo: pygit2.Repository, entries: Mapping[str, tuple[bytes, int]]) -> pygit2.Oid:
    """A tree holding exactly ``entries`` (path -> (bytes, file mode)), folders made as needed."""
    folders: dict[str, dict[str, tuple[bytes, int]]] = {}
    builder = repo.TreeBuilder()
    for path, (data, mode) in entries.items():
        head, _, rest = path.partition("/")
        if rest:
            folders.setdefault(head, {})[rest] = (data, mode)
        else:
            builder.insert(head, repo.create_blob(data), mode)
    for name, inner in folders.items():
        builder.insert(name, write_tree(repo, inner), pygit2.enums.FileMode.TREE)
    return builder.write()
