"""An overlay's pin history: which digest each commit on the base branch left pinned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PinFact:
    """One commit that touched an overlay, and the digest the overlay pinned after it.

    ``digest`` is None when the overlay pinned no digest (a tag only, or no entry).
    ``by_reconciler`` is True for the daemon's own promotion commits (they carry a
    ``Promoted-From:`` trailer); anything else was made by a person or another tool.
    """

    commit: str
    committed_at: datetime
    digest: str | None
    by_reconciler: bool
    # For a `reconciler rollback` commit (a ``Rollback-Of`` trailer): its reason, else None.
    rollback: str | None = None


def pinned_since(history: Sequence[PinFact], digest: str) -> datetime | None:
    """When the overlay started pinning ``digest``, if it pins it now; else None.

    ``history`` is oldest first, in the base branch's first-parent order (commit times can
    lie about order; the chain cannot). The answer is the commit that began the current
    unbroken run of ``digest``, so a rollback and re-pin starts the clock again.
    """
    since: datetime | None = None
    for fact in history:
        if fact.digest != digest:
            since = None
        elif since is None:
            since = fact.committed_at
    return since
