"""What a gate evaluation says, and the text helpers every gate kind shares.

Times are shown in UTC, ISO 8601 to the second (``2026-05-10T10:00:20Z``), and digests in
their short form, so the same facts always render to the same text in plans, logs and PRs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

from reconciler.policy.values import format_duration

GateKind = Literal["http", "soak", "window", "argocd", "checks", "merge-delay"]
# Why a gate of the policy's [gates] does not pass; planning blocks on it as `gate:<code>`.
# http: not-live, no-samples, not-sampled (a one-shot view that took none), failing,
# streak-short; soak: not-live, soaking; window:
# outside-window, denied, frozen; argocd: unknown, out-of-sync, progressing, not-live, unhealthy;
# checks: unknown, checks-pending, checks-failed.
GateFailure = Literal[
    "not-live",
    "no-samples",
    "not-sampled",
    "failing",
    "streak-short",
    "soaking",
    "outside-window",
    "denied",
    "frozen",
    "unknown",
    "out-of-sync",
    "progressing",
    "unhealthy",
    "checks-pending",
    "checks-failed",
]
# Every code a gate result carries; merge_delay's (not-approved, merge-delay) are not
# `gate:` blocks: planning reports a merge delay as `merge-delay`.
GateCode = Literal["passed", "not-approved", "merge-delay"] | GateFailure


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict for one candidate at one instant.

    ``reason`` is the full sentence for plans and logs; ``evidence`` the short form for the
    PR body and the ``Gate-Evidence:`` trailer. ``code`` is a stable, low-cardinality word
    for metric labels and JSON: ``passed``, or why not (GateCode).
    ``since`` is when the current verdict started to hold, ``until`` when it is expected
    to change, each when known. ``weak_binding`` says the verdict rests on the source
    overlay's commit time because no live source tells what the source environment runs.
    """

    gate: str
    kind: GateKind
    passed: bool
    code: GateCode
    reason: str
    evidence: str
    since: datetime | None = None
    until: datetime | None = None
    weak_binding: bool = False


@lru_cache(maxsize=4096)  # the same few instants, in every edge's evidence of a plan
def stamp(moment: datetime) -> str:
    """``2026-05-10T10:00:20Z``: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(length: timedelta) -> str:
    """A duration to the second, in policy syntax (``1h30m``); negative counts as zero."""
    seconds = max(0, int(length.total_seconds()))
    return format_duration(timedelta(seconds=seconds))


def require_aware(now: datetime) -> None:
    """Reject a naive ``now``: every instant the gates compare carries its offset."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
