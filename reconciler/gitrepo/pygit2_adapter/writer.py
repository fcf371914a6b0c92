"""Writes: commits built from the parent's tree without a worktree (signed through
commits.write_commit when the adapter has a signer), and pushes under a lease
(docs/decisions/0003-git-push-lease.md); a remote on this machine is written by localpush.py.

updating.py re-runs an edit after a lost race through the primitives of ``Writer``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pygit2

from reconciler.errors import PermanentError
from reconciler.gitrepo import paths, updating
from reconciler.gitrepo.port import CommitSigner, ReadView, Signature, check_writable
from reconciler.gitrepo.pygit2_adapter import localpush
from reconciler.gitrepo.pygit2_adapter.callbacks import NETWORK_ERRORS, ZERO
from reconciler.gitrepo.pygit2_adapter.clone import Clone
from reconciler.gitrepo.pygit2_adapter.commits import write_commit
from reconciler.gitrepo.pygit2_adapter.refs import TRACKING, tracked
from reconciler.gitrepo.pygit2_adapter.trees import write_tree
from reconciler.gitrepo.pygit2_adapter.treeview import TreeView

# Push rejections that mean "someone else updated the ref first"; any other is a refusal.
_RACE_WORDS = ("failed to update ref", "lock", "stale", "fetch first", "non-fast-forward")


class Writer:
    """The primitives updating.py needs, over the clone (the adapter's ``lock`` held)."""

    def __init__(
        self, clone: Clone, lock: threading.RLock, signer: CommitSigner | None = None
    ) -> None:
        self._clone = clone
        self._lock = lock
        self._signer = signer

    def refresh(self) -> None:
        with self._lock:
            self._clone.fetch()

    def tracked(self, branch: str) -> str | None:
        with self._lock:
            return tracked(self._clone.repo, branch)

    def view(self, commit: str) -> ReadView:
        with self._lock:
            return TreeView(self._lock, self._clone.commit(commit))

    def build(
        self,
        parent: str,
        changes: Mapping[str, bytes | None],
        message: str,
        author: Signature,
        committer: Signature,
    ) -> str | None:
        check_writable(author)
        check_writable(committer)
        repo = self._clone.repo
        base = self._clone.commit(parent)
        tree = write_tree(repo, base.tree, paths.nest(changes), "")
        if tree is None or tree == base.tree_id:
            return None
        oid = write_commit(
            repo,
            tree,
            [base.id],
            message=message,
            author=author,
            committer=committer,
            signer=self._signer,
        )
        return str(oid)

    def same_change(self, commit: str, other: str) -> bool:
        repo = self._clone.repo
        first, second = repo.get(commit), repo.get(other)
        if not isinstance(first, pygit2.Commit) or not isinstance(second, pygit2.Commit):
            return False
        if self._signer is not None and first.gpg_signature[0] is None:
            return False  # an unsigned commit of before is replaced by a signed one
        return first.tree_id == second.tree_id and first.parent_ids == second.parent_ids

    def push(self, branch: str, commit: str, expected: str | None, *, force: bool) -> None:
        push(self._clone, branch, commit, expected, force=force)


def push(clone: Clone, branch: str, commit: str, expected: str | None, *, force: bool) -> None:
    """Set the remote's ``branch`` to ``commit`` if it is at ``expected`` (BranchMoved if
    not), then the tracking ref; ``force`` pushes a commit that does not descend from it."""
    ref = f"refs/heads/{branch}"
    remote = clone.remote
    if remote.local_path is not None:
        localpush.push(
            clone.repo,
            remote.local_path,
            ref,
            commit=commit,
            expected=expected,
            complete=clone.complete,
        )
    else:
        lease = (ref, pygit2.Oid(hex=expected) if expected else ZERO)
        callbacks = clone.callbacks(lease)
        spec = f"{'+' if force else ''}{commit}:{ref}"
        try:
            clone.repo.remotes["origin"].push([spec], callbacks=callbacks)
        except NETWORK_ERRORS as error:
            raise callbacks.failure("pushing to", remote.display, error) from None
        refusal = callbacks.rejected.get(ref)
        if refusal is not None:
            if any(word in refusal.lower() for word in _RACE_WORDS):
                clone.fetch()
                raise updating.BranchMoved(tracked(clone.repo, branch))
            raise PermanentError(
                f"the config repo {remote.display} refused the update of branch "
                f"{branch!r}: {refusal}; check branch protection and the credential's "
                "write access"
            )
    with clone.writing():
        clone.repo.references.create(TRACKING + branch, commit, force=True)
