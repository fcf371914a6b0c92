"""A ConfigRepo that dies at its k-th write: the daemon process ends right there.

Every effect the daemon has goes through the config repo's two writes (the local forge
keeps its requests there too), so counting ``update_branch`` and ``replace_branch`` calls
names every point where a real process could die between two effects. The k-th write
raises ``Crash`` before it reaches git, so the repo holds exactly the first k-1 effects.
``Crash`` is a BaseException: like a killed process, nothing in the daemon handles it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from reconciler.gitrepo.port import (
    CommitInfo,
    ConfigRepo,
    Edit,
    FileChange,
    FileHistories,
    PushOutcome,
    ReadView,
    Signature,
)
from reconciler.gitrepo.trailers import Trailer


class Crash(BaseException):
    """The daemon process died here."""


class CrashingRepo:
    """``inner``, except that write number ``at`` (1-based) raises Crash instead."""

    def __init__(self, inner: ConfigRepo, at: int) -> None:
        self.inner = inner
        self.at = at
        self.writes: list[str] = []  # every write attempted, the crashing one last

    def _write(self, what: str) -> None:
        self.writes.append(what)
        if len(self.writes) == self.at:
            raise Crash(f"died at write {self.at}: {what}")

    # -- reads pass through ----------------------------------------------------------------
    def fetch(self) -> None:
        self.inner.fetch()

    def tip(self, branch: str) -> str | None:
        return self.inner.tip(branch)

    def branches(self, prefix: str = "") -> Mapping[str, str]:
        return self.inner.branches(prefix)

    def tree(self, commit: str) -> ReadView:
        return self.inner.tree(commit)

    def read(self, commit: str, path: str) -> bytes | None:
        return self.inner.read(commit, path)

    def blob_id(self, commit: str, path: str) -> str | None:
        return self.inner.blob_id(commit, path)

    def changed_paths(
        self, old: str | None, new: str, prefixes: Sequence[str] | None = None
    ) -> tuple[FileChange, ...]:
        return self.inner.changed_paths(old, new, prefixes)

    def commit_info(self, commit: str) -> CommitInfo:
        return self.inner.commit_info(commit)

    def merged_file(self, ancestor: str, ours: str, theirs: str, path: str) -> bytes | None:
        return self.inner.merged_file(ancestor, ours, theirs, path)

    def history(
        self, commit: str, path: str, limit: int = 20, first_parent: bool = False
    ) -> tuple[CommitInfo, ...]:
        return self.inner.history(commit, path, limit, first_parent=first_parent)

    def file_histories(
        self, commit: str, files: Iterable[str], limit: int = 20, stop: str | None = None
    ) -> FileHistories:
        return self.inner.file_histories(commit, files, limit, stop)

    def file_histories_task(
        self, commit: str, files: Sequence[str], limit: int = 20
    ) -> Callable[[], FileHistories | None] | None:
        return self.inner.file_histories_task(commit, files, limit)

    def remote_tip(self, branch: str) -> str | None:
        return self.inner.remote_tip(branch)

    # -- writes are counted ----------------------------------------------------------------
    def update_branch(
        self,
        branch: str,
        edit: Edit,
        *,
        message: str,
        author: Signature,
        committer: Signature,
        trailers: Sequence[Trailer] = (),
    ) -> PushOutcome:
        self._write(f"update {branch}: {message.splitlines()[0]}")
        return self.inner.update_branch(
            branch, edit, message=message, author=author, committer=committer, trailers=trailers
        )

    def replace_branch(
        self,
        branch: str,
        edit: Edit,
        *,
        base: str,
        expected_old: str | None,
        message: str,
        author: Signature,
        committer: Signature,
        trailers: Sequence[Trailer] = (),
    ) -> PushOutcome:
        self._write(f"replace {branch}: {message.splitlines()[0]}")
        return self.inner.replace_branch(
            branch,
            edit,
            base=base,
            expected_old=expected_old,
            message=message,
            author=author,
            committer=committer,
            trailers=trailers,
        )


def _is_a_config_repo(repo: CrashingRepo) -> ConfigRepo:
    return repo  # mypy --strict proves that CrashingRepo implements the port
