"""Branch writes with an edit function: the retry and lease rules, apart from any git library.

Adapters provide a few primitives (``Writer``); these functions decide when to build, when
to push, and what a lost race means. The pygit2 adapter and the in-memory fake share them,
so the behaviour the contract tests pin down is the behaviour the daemon gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from reconciler.errors import PermanentError, TransientError
from reconciler.gitrepo.port import Edit, LeaseRejected, PushOutcome, ReadView, Signature
from reconciler.gitrepo.trailers import Trailer, with_trailers


class BranchMoved(Exception):
    """The remote branch was not at the expected commit when the push reached it."""

    def __init__(self, actual: str | None) -> None:
        super().__init__("the remote branch moved")
        self.actual = actual


class Writer(Protocol):
    """What an adapter must offer for branch writes."""

    def refresh(self) -> None:
        """Fetch, so ``tracked`` reflects the remote."""
        ...

    def tracked(self, branch: str) -> str | None:
        """The remote-tracking value of ``branch``."""
        ...

    def view(self, commit: str) -> ReadView:
        """The files of ``commit``."""
        ...

    def build(
        self,
        parent: str,
        changes: Mapping[str, bytes | None],
        message: str,
        author: Signature,
        committer: Signature,
    ) -> str | None:
        """A new commit on ``parent`` with ``changes``; None if the tree would not change."""
        ...

    def same_change(self, commit: str, other: str) -> bool:
        """True when both commits have the same parents and the same tree."""
        ...

    def push(self, branch: str, commit: str, expected: str | None, *, force: bool) -> None:
        """Set the remote ``branch`` to ``commit`` only if it is at ``expected``.

        Raises BranchMoved(actual) when it is not; updates the remote-tracking value on
        success.
        """
        ...


def update_branch(  # noqa: PLR0913 a commit's parts, all keyword-only
    writer: Writer,
    branch: str,
    edit: Edit,
    *,
    message: str,
    author: Signature,
    committer: Signature,
    trailers: Sequence[Trailer],
    max_attempts: int,
) -> PushOutcome:
    """Fast-forward ``branch`` with ``edit``'s changes, re-running the edit after a lost race."""
    text = with_trailers(message, trailers)
    for attempt in range(1, max_attempts + 1):
        base = writer.tracked(branch)
        if base is None and attempt == 1:
            writer.refresh()
            base = writer.tracked(branch)
        if base is None:
            raise PermanentError(
                f"branch {branch!r} does not exist in the config repo; create it, or fix "
                "the branch name in the settings"
            )
        changes = edit(writer.view(base))
        new = writer.build(base, changes, text, author, committer) if changes else None
        if new is None:
            return PushOutcome(branch, base, base, changed=False, attempts=attempt)
        try:
            writer.push(branch, new, expected=base, force=False)
        except BranchMoved:
            if attempt < max_attempts:
                writer.refresh()
            continue
        return PushOutcome(branch, new, base, changed=True, attempts=attempt)
    raise TransientError(
        f"gave up updating branch {branch!r} after {max_attempts} attempts: another writer "
        "moved it each time; the change will be tried again next cycle"
    )


def replace_branch(  # noqa: PLR0913 a commit's parts, all keyword-only
    writer: Writer,
    branch: str,
    edit: Edit,
    *,
    base: str,
    expected_old: str | None,
    message: str,
    author: Signature,
    committer: Signature,
    trailers: Sequence[Trailer],
) -> PushOutcome:
    """Force ``branch`` to one commit on ``base``, only if it is still at ``expected_old``."""
    changes = edit(writer.view(base))
    text = with_trailers(message, trailers)
    new = writer.build(base, changes, text, author, committer) if changes else None
    if new is None:
        return PushOutcome(branch, expected_old, expected_old, changed=False, attempts=1)
    if expected_old is not None and writer.same_change(expected_old, new):
        # Rewriting an identical change would only churn the head commit (and dismiss
        # reviews bound to it), so the branch keeps the commit it has.
        return PushOutcome(branch, expected_old, expected_old, changed=False, attempts=1)
    try:
        writer.push(branch, new, expected=expected_old, force=True)
    except BranchMoved as moved:
        raise LeaseRejected(branch, expected_old, moved.actual) from None
    return PushOutcome(branch, new, expected_old, changed=True, attempts=1)
