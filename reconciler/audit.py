"""The audit trail (`reconciler history`), rebuilt from the config repo alone.

Two durable sources: the promotion requests' records (who asked, who approved on which
head, when it merged, when it was first seen running) and the base branch's commits,
whose trailers name every promotion, including `mode = "commit"` ones that had no request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler import promotions
from reconciler.forge.records import PROMOTION_REQUEST, REVIEWED_BY, RequestRecord
from reconciler.gitrepo.port import CommitInfo
from reconciler.gitrepo.trailers import trailer_values


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
    approvals: tuple[tuple[str, datetime], ...]  # every approval on the merged head
    merged_at: datetime | None
    commit: str | None
    live_at: datetime | None
    counted: tuple[str, ...] = ()  # approvals the merge counted (its Reviewed-by trailers)


def trail(records: Iterable[RequestRecord], commits: Sequence[CommitInfo]) -> list[Entry]:
    """Every promotion, oldest first."""
    entries: list[Entry] = []
    by_id = {info.id: info for info in commits}
    for record in records:
        marker = promotions.parse_marker(record.body)
        if marker is None:
            continue
        head = record.head_commit
        approvals = tuple(
            (r.reviewer, r.at)
            for r in sorted(record.reviews, key=lambda r: r.at)
            if r.state == "approved" and (head is None or r.commit == head)
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
                approvals,
                record.merged_at,
                record.merged_commit,
                record.live_at,
                counted,
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
        if source and digest and app and env:
            entries.append(
                Entry(
                    app, source, env, digest, "committed", None, None, (), info.time, info.id, None
                )
            )
    return sorted(entries, key=lambda e: (_key(e.requested_at or e.merged_at), e.request or 0))


def _key(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0
