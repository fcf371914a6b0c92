"""A scripted prober for planner and observer tests: no network, answers as told."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from reconciler.gates import Sample
from reconciler.gates.port import Prober, ProbeRequest


class FakeProber:
    """Answers each (gate, app) from a script of outcomes, one per round, then repeats the last.

    An outcome is True (``status 200``), False (``status 503, expected 200``) or a string,
    the detail of a failed sample. Unscripted pairs fail with "no scripted answer".
    """

    def __init__(
        self,
        script: Mapping[tuple[str, str], Sequence[bool | str]],
        clock: Callable[[], datetime],
    ) -> None:
        self._script = {key: list(outcomes) for key, outcomes in script.items()}
        self._clock = clock
        self.rounds: list[list[ProbeRequest]] = []

    def probe(self, requests: Sequence[ProbeRequest]) -> list[Sample]:
        """One sample per request, in order, all stamped with the round's start."""
        taken_at = self._clock()
        self.rounds.append(list(requests))
        return [self._sample(request, taken_at) for request in requests]

    def _sample(self, request: ProbeRequest, taken_at: datetime) -> Sample:
        outcomes = self._script.get((request.gate.name, request.app))
        outcome: bool | str = "no scripted answer"
        if outcomes:
            outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
        if outcome is True:
            ok, detail, status = True, "status 200", 200
        elif outcome is False:
            ok, detail, status = False, "status 503, expected 200", 503
        else:
            ok, detail, status = False, str(outcome), None
        return Sample(
            gate=request.gate.name,
            app=request.app,
            env=request.env,
            taken_at=taken_at,
            ok=ok,
            detail=detail,
            live_digest=request.live_digest,
            status=status,
        )


def _epoch() -> datetime:
    return datetime.fromisoformat("2026-01-01T00:00:00+00:00")


_: Prober = FakeProber({}, _epoch)
