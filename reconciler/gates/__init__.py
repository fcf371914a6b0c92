"""Pure gate evaluation: whether the source environment has proven a candidate digest.

``evaluate(gate, samples, candidate, now)`` judges one gate from literal facts: no clock,
no I/O. HTTP samples come from ``reconciler.probes``; the candidate's ``live_since`` from
the live source or the source overlay's pin history (``pinned_since``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from reconciler.gates.candidates import Binding, Candidate
from reconciler.gates.evidence import TRAILER, evidence_table, evidence_trailer
from reconciler.gates.pins import PinFact, pinned_since
from reconciler.gates.results import GateKind, GateResult, require_aware
from reconciler.gates.samples import Sample, evaluate_http
from reconciler.gates.timers import MERGE_DELAY, evaluate_merge_delay, evaluate_soak
from reconciler.gates.windows import evaluate_window
from reconciler.policy.model import Gate, HttpGate, SoakGate, WindowGate


def evaluate(
    gate: Gate, samples: Sequence[Sample], candidate: Candidate, now: datetime
) -> GateResult:
    """One gate's verdict on ``candidate`` at ``now``; samples of other gates are ignored."""
    require_aware(now)
    if isinstance(gate, HttpGate):
        return evaluate_http(gate, samples, candidate, now)
    if isinstance(gate, SoakGate):
        return evaluate_soak(gate, candidate, now)
    if isinstance(gate, WindowGate):
        return evaluate_window(gate, now)
    raise TypeError(f"unknown gate type {type(gate).__name__}")


def merge_delay(delay: timedelta, approved_at: datetime | None, now: datetime) -> GateResult:
    """The environment's ``merge_delay`` as a gate: approved at least ``delay`` ago."""
    require_aware(now)
    return evaluate_merge_delay(delay, approved_at, now)


__all__ = [
    "MERGE_DELAY",
    "TRAILER",
    "Binding",
    "Candidate",
    "GateKind",
    "GateResult",
    "PinFact",
    "Sample",
    "evaluate",
    "evidence_table",
    "evidence_trailer",
    "merge_delay",
    "pinned_since",
]
