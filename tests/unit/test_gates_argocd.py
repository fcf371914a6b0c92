"""The `argocd` gate: Synced and Healthy on the candidate digest, judged from Argo CD's facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.gates.argocd import evaluate_argocd

REPO = "registry.example.com/shop/gw"
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
SYNCED_AT = NOW - timedelta(minutes=20)
SIDECAR = f"docker.io/envoyproxy/envoy@sha256:{'e' * 64}"

# (case, sync, health, images, operation, error, passed, code, reason, evidence)
CASES = [
    (
        "synced and healthy on the candidate",
        "Synced",
        "Healthy",
        [SIDECAR, f"{REPO}@{NEW}"],
        "Succeeded",
        None,
        True,
        "passed",
        "Argo CD application gw-staging is Synced and Healthy on sha256:bbbbbbbb "
        "since 2026-05-10T11:40:00Z",
        "Synced, Healthy on sha256:bbbbbbbb",
    ),
    (
        "a tag beside the digest still names it",
        "Synced",
        "Healthy",
        [f"{REPO}:1.5.0@{NEW}"],
        "Succeeded",
        None,
        True,
        "passed",
        "Argo CD application gw-staging is Synced and Healthy on sha256:bbbbbbbb "
        "since 2026-05-10T11:40:00Z",
        "Synced, Healthy on sha256:bbbbbbbb",
    ),
    (
        "out of sync",
        "OutOfSync",
        "Healthy",
        [f"{REPO}@{OLD}"],
        "Succeeded",
        None,
        False,
        "out-of-sync",
        "Argo CD application gw-staging is OutOfSync; waits for Synced on sha256:bbbbbbbb",
        "OutOfSync, Healthy",
    ),
    (
        "sync status unknown to Argo CD",
        "Unknown",
        "Healthy",
        [f"{REPO}@{NEW}"],
        "Succeeded",
        None,
        False,
        "out-of-sync",
        "Argo CD application gw-staging is Unknown; waits for Synced on sha256:bbbbbbbb",
        "Unknown, Healthy",
    ),
    (
        "synced on another digest",
        "Synced",
        "Healthy",
        [f"{REPO}@{OLD}"],
        "Succeeded",
        None,
        False,
        "not-live",
        "Argo CD application gw-staging is Synced but runs sha256:aaaaaaaa, not sha256:bbbbbbbb",
        "Synced, Healthy, not on sha256:bbbbbbbb",
    ),
    (
        "synced by tag only proves nothing",
        "Synced",
        "Healthy",
        [f"{REPO}:1.5.0"],
        "Succeeded",
        None,
        False,
        "not-live",
        "Argo CD application gw-staging is Synced but runs no image by digest, not sha256:bbbbbbbb",
        "Synced, Healthy, not on sha256:bbbbbbbb",
    ),
    (
        "still progressing",
        "Synced",
        "Progressing",
        [f"{REPO}@{NEW}"],
        "Succeeded",
        None,
        False,
        "progressing",
        "Argo CD application gw-staging is Synced on sha256:bbbbbbbb and still Progressing",
        "Synced, Progressing",
    ),
    (
        "degraded",
        "Synced",
        "Degraded",
        [f"{REPO}@{NEW}"],
        "Succeeded",
        None,
        False,
        "unhealthy",
        "Argo CD application gw-staging is Synced on sha256:bbbbbbbb but Degraded",
        "Synced, Degraded on sha256:bbbbbbbb",
    ),
    (
        "suspended",
        "Synced",
        "Suspended",
        [f"{REPO}@{NEW}"],
        "Succeeded",
        None,
        False,
        "unhealthy",
        "Argo CD application gw-staging is Synced on sha256:bbbbbbbb but Suspended",
        "Synced, Suspended on sha256:bbbbbbbb",
    ),
    (
        "no health reported",
        "Synced",
        None,
        [f"{REPO}@{NEW}"],
        "Succeeded",
        None,
        False,
        "unhealthy",
        "Argo CD application gw-staging is Synced on sha256:bbbbbbbb but of unknown health",
        "Synced, unknown on sha256:bbbbbbbb",
    ),
    (
        "status could not be read",
        None,
        None,
        [],
        "Succeeded",
        "Argo CD at https://argocd.example.com rejected the token (401)",
        False,
        "unknown",
        "the status of Argo CD application gw-staging is unknown: Argo CD at "
        "https://argocd.example.com rejected the token (401)",
        "status unknown",
    ),
    (
        "an error wins over stale facts",
        "Synced",
        "Healthy",
        [f"{REPO}@{NEW}"],
        "Succeeded",
        "no complete response within 2s",
        False,
        "unknown",
        "the status of Argo CD application gw-staging is unknown: no complete response within 2s",
        "status unknown",
    ),
    (
        "a sync operation still running",
        "Synced",
        "Healthy",
        [f"{REPO}@{OLD}"],
        "Running",
        None,
        False,
        "progressing",
        "Argo CD application gw-staging has a sync operation running",
        "Synced, Healthy",
    ),
]


@pytest.mark.parametrize(
    ("sync", "health", "images", "operation", "error", "passed", "code", "reason", "evidence"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_argocd_gate(
    sync: str | None,
    health: str | None,
    images: list[str],
    operation: str | None,
    error: str | None,
    passed: bool,
    code: str,
    reason: str,
    evidence: str,
) -> None:
    result = evaluate_argocd(
        "staging-synced",
        sync,
        health,
        images=images,
        candidate_digest=NEW,
        now=NOW,
        application="gw-staging",
        synced_at=SYNCED_AT,
        operation=operation,
        error=error,
    )
    assert (result.gate, result.kind) == ("staging-synced", "argocd")
    assert (result.passed, result.code, result.reason, result.evidence) == (
        passed,
        code,
        reason,
        evidence,
    )
    assert result.since == (SYNCED_AT if passed else None)


def test_without_an_application_name_or_sync_time() -> None:
    result = evaluate_argocd(
        "g", "Synced", "Healthy", images=[f"{REPO}@{NEW}"], candidate_digest=NEW, now=NOW
    )
    assert (result.passed, result.since) == (True, None)
    assert result.reason == "the Argo CD application is Synced and Healthy on sha256:bbbbbbbb"


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_argocd(
            "g", "Synced", "Healthy", images=[], candidate_digest=NEW, now=NOW.replace(tzinfo=None)
        )
