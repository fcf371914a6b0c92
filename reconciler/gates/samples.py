"""HTTP gate samples and the streak rule that turns them into a verdict.

A sample counts only when it is bound to the candidate: the source environment was
running the candidate digest when it was taken (``live_digest``) and it was taken after
the candidate became live there (``Candidate.live_since``). Unbound samples (an older
digest during a rollout, an unknown live digest) are ignored: they neither count nor
reset the streak.

The streak, over bound samples in time order: a success adds one; ``failures_to_block``
consecutive failures reset it to zero; fewer consecutive failures are tolerated (the
streak keeps its value but they add nothing). The gate passes while the streak is at
least ``successes``. With the default ``failures_to_block = 1`` any failure resets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from reconciler.gates.candidates import Candidate
from reconciler.gates.results import GateFailure, GateResult, stamp
from reconciler.model import short
from reconciler.policy.model import HttpGate


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One probe of one gate for one app in the source environment.

    ``detail`` is a short reason with no secrets (``status 503, expected 200``).
    ``live_digest`` is what the source environment ran when the sample was taken: from
    its live source, or without one the digest its overlay pinned; None when unknown.
    """

    gate: str
    app: str
    env: str
    taken_at: datetime
    ok: bool
    detail: str
    live_digest: str | None
    status: int | None = None


@dataclass(frozen=True)
class Streak:
    """The streak rule's state after the last bound sample."""

    length: int = 0
    failures: int = 0  # consecutive failures since the last success
    tolerated: int = 0  # failures absorbed without a reset since the streak began
    passed_at: datetime | None = None  # when the streak reached the required length
    reset_at: datetime | None = None  # when a passing streak was last reset
    last_failure: Sample | None = None


def bound_samples(samples: Sequence[Sample], gate: str, candidate: Candidate) -> list[Sample]:
    """The samples of ``gate`` that count for ``candidate``, oldest first."""
    if candidate.live_since is None:
        return []
    live_since = candidate.live_since
    return sorted(
        (
            s
            for s in samples
            if s.gate == gate
            and s.app == candidate.app
            and s.env == candidate.source_env
            and s.live_digest == candidate.digest
            and s.taken_at >= live_since
        ),
        key=lambda s: s.taken_at,
    )


def streak(bound: Sequence[Sample], successes: int, failures_to_block: int) -> Streak:
    """Run the streak rule over bound samples (oldest first)."""
    state = Streak()
    for sample in bound:
        if sample.ok:
            length = state.length + 1
            reached = length == successes and state.passed_at is None
            state = replace(
                state,
                length=length,
                failures=0,
                passed_at=sample.taken_at if reached else state.passed_at,
            )
        elif state.failures + 1 >= failures_to_block:
            reset_at = sample.taken_at if state.passed_at is not None else state.reset_at
            state = Streak(reset_at=reset_at, last_failure=sample)
        else:
            state = replace(
                state,
                failures=state.failures + 1,
                tolerated=state.tolerated + (1 if state.length else 0),
                last_failure=sample,
            )
    return state


def evaluate_http(
    gate: HttpGate, samples: Sequence[Sample], candidate: Candidate, now: datetime
) -> GateResult:
    """Pass when the candidate has ``gate.successes`` consecutive bound successes."""
    digest = short(candidate.digest)
    env = candidate.source_env
    weak = candidate.weak
    weak_note = ", weak binding" if weak else ""
    if candidate.live_since is None:
        return GateResult(
            gate=gate.name,
            kind="http",
            passed=False,
            code="not-live",
            reason=f"{digest} is not live in {env}; samples count only while it runs there",
            evidence=f"{digest} not live in {env}",
            weak_binding=weak,
        )
    bound = [s for s in bound_samples(samples, gate.name, candidate) if s.taken_at <= now]
    state = streak(bound, gate.successes, gate.failures_to_block)
    counted = f"{state.length} consecutive ok on {digest}, need {gate.successes}{weak_note}"
    binding = _binding_note(candidate)
    if state.length >= gate.successes:
        tolerated = (
            f" ({state.tolerated} failure{'s' if state.tolerated != 1 else ''} tolerated)"
            if state.tolerated
            else ""
        )
        last = bound[-1]
        return GateResult(
            gate=gate.name,
            kind="http",
            passed=True,
            code="passed",
            reason=f"{state.length} consecutive successes on {digest} in {env} (need "
            f"{gate.successes}){tolerated}; last at {stamp(last.taken_at)}: {last.detail}"
            f"{binding}",
            evidence=counted,
            since=state.passed_at,
            weak_binding=weak,
        )
    code: GateFailure
    if not bound:
        detail, code = "no samples yet", "no-samples"
    elif not bound[-1].ok:
        last = bound[-1]
        detail, code = f"last sample at {stamp(last.taken_at)} failed: {last.detail}", "failing"
        if state.failures:
            detail += (
                f" ({state.failures} of {gate.failures_to_block} consecutive failures "
                "that reset the streak)"
            )
    else:
        detail, code = f"last sample at {stamp(bound[-1].taken_at)} ok", "streak-short"
        if state.last_failure is not None:
            failure = state.last_failure
            detail += f"; last failure at {stamp(failure.taken_at)}: {failure.detail}"
    return GateResult(
        gate=gate.name,
        kind="http",
        passed=False,
        code=code,
        reason=f"{state.length} of {gate.successes} consecutive successes on {digest} in "
        f"{env}; {detail}{binding}",
        evidence=counted,
        since=state.reset_at or candidate.live_since,
        weak_binding=weak,
    )


def _binding_note(candidate: Candidate) -> str:
    if not candidate.weak or candidate.live_since is None:
        return ""
    return (
        f"; weak binding: no live source for {candidate.source_env}, samples count from "
        f"the overlay commit at {stamp(candidate.live_since)}"
    )
