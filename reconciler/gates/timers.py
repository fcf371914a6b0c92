"""Gates that wait: soak (time live in the source) and merge_delay (time approved)."""

from __future__ import annotations

from datetime import datetime, timedelta

from reconciler.gates.candidates import Candidate
from reconciler.gates.results import GateResult, span, stamp
from reconciler.model import short
from reconciler.policy.model import SoakGate

MERGE_DELAY = "merge_delay"


def evaluate_soak(gate: SoakGate, candidate: Candidate, now: datetime) -> GateResult:
    """Pass once the candidate has been live in the source for ``gate.duration``.

    Only ``candidate.live_since`` is used, a durable fact, so a restarted daemon reaches
    the same verdict without any samples.
    """
    digest = short(candidate.digest)
    env = candidate.source_env
    need = span(gate.duration)
    weak = ", weak binding" if candidate.weak else ""
    if candidate.live_since is None:
        return GateResult(
            gate=gate.name,
            kind="soak",
            passed=False,
            code="not-live",
            reason=f"{digest} is not live in {env}; soak starts when it is",
            evidence=f"{digest} not live in {env}",
            weak_binding=candidate.weak,
        )
    live_since = candidate.live_since
    ready_at = live_since + gate.duration
    elapsed = span(now - live_since)
    if candidate.weak:
        origin = f"since the {env} overlay commit at {stamp(live_since)}"
        weak_tail = f"; weak binding: no live source for {env}"
    else:
        origin, weak_tail = f"since {stamp(live_since)}", ""
    stated = f"{digest} live in {env} for {elapsed} (need {need}) {origin}"
    evidence = f"live {elapsed} on {digest}, need {need}{weak}"
    if now >= ready_at:
        return GateResult(
            gate=gate.name,
            kind="soak",
            passed=True,
            code="passed",
            reason=f"{stated}{weak_tail}",
            evidence=evidence,
            since=ready_at,
            weak_binding=candidate.weak,
        )
    return GateResult(
        gate=gate.name,
        kind="soak",
        passed=False,
        code="soaking",
        reason=f"{stated}; passes at {stamp(ready_at)}{weak_tail}",
        evidence=evidence,
        since=live_since,
        until=ready_at,
        weak_binding=candidate.weak,
    )


def evaluate_merge_delay(
    delay: timedelta, approved_at: datetime | None, now: datetime
) -> GateResult:
    """Pass once the promotion PR has been approved (on its current head) for ``delay``."""
    need = span(delay)
    if approved_at is None:
        return GateResult(
            gate=MERGE_DELAY,
            kind="merge-delay",
            passed=False,
            code="not-approved",
            reason=f"not approved yet; merges {need} after approval",
            evidence="not approved",
        )
    ready_at = approved_at + delay
    evidence = f"approved {span(now - approved_at)} ago, need {need}"
    if now >= ready_at:
        return GateResult(
            gate=MERGE_DELAY,
            kind="merge-delay",
            passed=True,
            code="passed",
            reason=f"approved at {stamp(approved_at)}, {need} merge delay elapsed",
            evidence=evidence,
            since=ready_at,
        )
    return GateResult(
        gate=MERGE_DELAY,
        kind="merge-delay",
        passed=False,
        code="merge-delay",
        reason=f"approved at {stamp(approved_at)}; merge delay {need}, merges at {stamp(ready_at)}",
        evidence=evidence,
        since=approved_at,
        until=ready_at,
    )
