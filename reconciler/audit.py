"""The audit trail (`reconciler history`), rebuilt from the config repo alone.

Two durable sources: the promotion requests' records (who asked, who approved on which
head, when it merged, when it was first seen running) and the base branch's commits,
whose trailers name every promotion, including `mode = "commit"` ones that had no request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler import promotions
from reconciler.forge.port import ReviewState
from reconciler.forge.records import PROMOTION_REQUEST, REVIEWED_BY, RequestRecord
from reconciler.gitrepo.port import CommitInfo
from reconciler.gitrepo.trailers import trailer_values


@dataclass(frozen=True)
class Reviewed:
    """One review as the trail keeps it, with the head it was given on."""

    reviewer: str
    state: ReviewState
    at: datetime
    commit: str
    superseded: bool  # given on a head other than the merged (or, while open, current) one
    comment: str = ""


@dataclass(frozen=True)
class Rollback:
    """What a rollback's request or commit says: the digest it moved off, why, who asked."""

    replaces: str
    reason: str
    by: str


@dataclass(frozen=True)
class Entry:
    """One promotion: what moved where, and who and when at each step."""

    app: str
    source: str
    env: str
    digest: str
    state: str  # open | merged | closed | committed
    requested_at: datetime | None
    request: int | None
    reviews: tuple[Reviewed, ...]  # every review, oldest first, superseded heads too
    merged_at: datetime | None
    commit: str | None
    live_at: datetime | None
    counted: tuple[str, ...] = ()  # approvals the merge counted (its Reviewed-by trailers)
    live_inferred: bool = False  # live_at is the merge's time: the env has no live source
    rollback: Rollback | None = None  # a `reconciler rollback`: what it replaced, why, who

    @property
    def kind(self) -> str:
        """``promotion`` or ``rollback``."""
        return "rollback" if self.rollback else "promotion"

    @property
    def approvals(self) -> tuple[tuple[str, datetime], ...]:
        """Every approval on the merged head (or an open request's current one)."""
        return tuple(
            (r.reviewer, r.at) for r in self.reviews if r.state == "approved" and not r.superseded
        )


def trail(
    records: Iterable[RequestRecord],
    commits: Sequence[CommitInfo],
    tips: Mapping[str, str] | None = None,
) -> list[Entry]:
    """Every promotion, oldest first; ``tips`` (head branch -> commit) tells which reviews
    of an open request are on its current head (without it, all of them are)."""
    entries: list[Entry] = []
    by_id = {info.id: info for info in commits}
    for record in records:
        marker = promotions.parse_marker(record.body)
        if marker is None:
            continue
        head = record.head_commit or (tips or {}).get(record.head_branch)
        reviews = tuple(
            Reviewed(
                r.reviewer,
                r.state,
                r.at,
                r.commit,
                head is not None and r.commit != head,
                r.comment,
            )
            for r in sorted(record.reviews, key=lambda r: r.at)
        )
        merge = by_id.get(record.merged_commit or "")
        counted = trailer_values(merge.trailers, REVIEWED_BY) if merge else ()
        entries.append(
            Entry(
                marker.app,
                marker.source,
                marker.env,
                marker.digest,
                record.state,
                record.created_at,
                record.number,
                reviews,
                record.merged_at,
                record.merged_commit,
                record.live_at,
                counted,
                record.live_inferred,
                Rollback(marker.replaces, marker.reason, marker.by) if marker.rollback else None,
            )
        )
    seen: set[str] = set()
    for info in commits:
        if info.id in seen or info.trailer(PROMOTION_REQUEST) is not None:
            continue
        seen.add(info.id)
        source = info.trailer(promotions.PROMOTED_FROM)
        digest = info.trailer(promotions.IMAGE_DIGEST)
        app = info.trailer(promotions.PROMOTION_APP)
        env = info.trailer(promotions.PROMOTION_ENV)
        replaced = info.trailer(promotions.ROLLBACK_OF)
        rollback = (
            Rollback(
                replaced,
                info.trailer(promotions.ROLLBACK_REASON) or "",
                info.trailer(promotions.ROLLED_BACK_BY) or "",
            )
            if replaced
            else None
        )
        if (source or rollback) and digest and app and env:
            entries.append(
                Entry(
                    app,
                    source or "",
                    env,
                    digest,
                    "committed",
                    None,
                    None,
                    (),
                    info.time,
                    info.id,
                    None,
                    rollback=rollback,
                )
            )
    return sorted(entries, key=lambda e: (_key(e.requested_at or e.merged_at), e.request or 0))


def _key(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0
