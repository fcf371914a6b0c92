"""Why a promotion is not made now: the closed set of codes a plan's Blocked carries and
metrics label reconciler_blocked's reason with (docs/operations.md lists them)."""

from __future__ import annotations

from typing import Literal

# A failing gate is `gate:` and its GateFailure (reconciler.gates.results).
BlockedCode = Literal[
    "awaiting-review",
    "merge-delay",
    "manual-merge",
    "hold",
    "codeowners-not-enforced",
    "codeowners-gap",
    "codeowners-error",
    "codeowners-team-unreadable",
    "no-pin",
    "unit-incomplete",
    "tag-only",
    "unknown-tag",
    "unknown-digest",
    "registry-unreachable",
    "overlay-missing",
    "overlay-invalid",
    "unverified-head",
    "request-damaged",
    "gate:not-live",
    "gate:no-samples",
    "gate:not-sampled",
    "gate:failing",
    "gate:streak-short",
    "gate:soaking",
    "gate:outside-window",
    "gate:denied",
    "gate:frozen",
    "gate:unknown",
    "gate:out-of-sync",
    "gate:progressing",
    "gate:unhealthy",
    "gate:checks-pending",
    "gate:checks-failed",
]
