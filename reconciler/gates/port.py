"""The gate-probe port: what observing asks of a prober, and what it gets back (Samples).

The HTTP prober (``reconciler.probes.HttpProber``) and the test fake implement it; both
are run through the same cases in tests/contract/test_probes_contract.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from reconciler.gates.samples import Sample
from reconciler.policy.model import HttpGate


@dataclass(frozen=True)
class ProbeRequest:
    """Probe ``gate`` for ``app`` in ``env``, which runs ``live_digest`` (None: unknown).

    The observer reads ``live_digest`` just before the round and again after it, and drops
    a sample when the two disagree, so no sample is bound across a rollout.
    ``private_redirects`` is the policy's setting of that name.
    """

    gate: HttpGate
    app: str
    env: str
    live_digest: str | None
    private_redirects: Literal["allow", "deny"] = "allow"


class Prober(Protocol):
    """Takes one sample per request it runs, in the order given."""

    def probe(self, requests: Sequence[ProbeRequest]) -> list[Sample]:
        """A Sample per request run (a probe that fails to run is a failed Sample); none
        for a request left out of a bounded round, which is probed next round."""
        ...
