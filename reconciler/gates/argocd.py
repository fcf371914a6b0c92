"""The `argocd` gate: the source environment's Application is Synced and Healthy on the candidate.

The seed's ``argocd app wait --sync --health`` as a pure verdict on facts Argo CD reported
(``reconciler.live.argocd`` reads them): no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.gates.results import GateCode, GateKind, GateResult, require_aware, stamp
from reconciler.model import short

ARGOCD: GateKind = "argocd"


def evaluate_argocd(  # noqa: PLR0913 one Application's status fields, all but three keyword-only
    gate: str,
    sync_status: str | None,
    health_status: str | None,
    *,
    images: Sequence[str],
    candidate_digest: str,
    now: datetime,
    application: str | None = None,
    synced_at: datetime | None = None,
    operation: str | None = None,
    error: str | None = None,
) -> GateResult:
    """Pass only when the Application is Synced and Healthy and runs ``candidate_digest``.

    ``images`` is the Application's ``status.summary.images``; ``synced_at`` when its last
    sync finished; ``operation`` the phase of its sync operation (``Running`` waits);
    ``error`` why its status could not be read (then nothing is proven).
    """
    require_aware(now)
    subject = f"Argo CD application {application}" if application else "the Argo CD application"
    digest = short(candidate_digest)
    state = f"{sync_status or 'unknown'}, {health_status or 'unknown'}"

    def verdict(code: GateCode, reason: str, evidence: str) -> GateResult:
        passed = code == "passed"
        return GateResult(
            gate=gate,
            kind=ARGOCD,
            passed=passed,
            code=code,
            reason=reason,
            evidence=evidence,
            since=synced_at if passed else None,
        )

    if error is not None or sync_status is None:
        why = f": {error}" if error else ""
        return verdict("unknown", f"the status of {subject} is unknown{why}", "status unknown")
    if sync_status != "Synced":
        return verdict(
            "out-of-sync", f"{subject} is {sync_status}; waits for Synced on {digest}", state
        )
    if operation == "Running":
        return verdict("progressing", f"{subject} has a sync operation running", state)
    running = [image.rpartition("@")[2] for image in images if "@" in image]
    if candidate_digest not in running:
        shown = ", ".join(short(d) for d in running) or "no image by digest"
        return verdict(
            "not-live",
            f"{subject} is Synced but runs {shown}, not {digest}",
            f"{state}, not on {digest}",
        )
    if health_status == "Progressing":
        return verdict(
            "progressing", f"{subject} is Synced on {digest} and still Progressing", state
        )
    if health_status != "Healthy":
        return verdict(
            "unhealthy",
            f"{subject} is Synced on {digest} but {health_status or 'of unknown health'}",
            f"{state} on {digest}",
        )
    since = f" since {stamp(synced_at)}" if synced_at else ""
    return verdict(
        "passed", f"{subject} is Synced and Healthy on {digest}{since}", f"{state} on {digest}"
    )
