"""Gate sampling: probe the HTTP gates that are due and keep samples bound to what ran.

Each gate is probed at its own interval and its samples are kept across cycles (they are
observations, so a restart simply collects them again). A round is bounded
(reconciler.probes): what it leaves out goes first next time. The live digest is read again
after the round, and a sample whose environment moved meanwhile is dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from reconciler.gates import Sample
from reconciler.gates.port import Prober, ProbeRequest
from reconciler.live.port import LiveReader
from reconciler.policy import Policy
from reconciler.policy.model import HttpGate
from reconciler.snapshot import Key, LiveState, OverlayState

SAMPLES_KEPT = 50  # per (gate, app, env): enough for any sane `successes`


class GateSampler:
    """Takes probe rounds and keeps each (gate, app, env)'s latest samples."""

    def __init__(
        self,
        prober: Prober,
        live_reader: Callable[[Policy, str], LiveReader | None],
        clock: Callable[[], datetime],
        wait: Callable[[float], object],
    ) -> None:
        self.prober = prober
        self.live_reader = live_reader
        self.clock = clock
        self.wait = wait
        self._samples: dict[tuple[str, str, str], deque[Sample]] = {}
        self._probed_at: dict[tuple[str, str, str], datetime] = {}

    def sample(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        live: Mapping[Key, LiveState],
        *,
        one_shot: bool,
    ) -> tuple[Sample, ...]:
        """Probe the gates that are due, least recently probed first, and keep the samples
        still bound to what ran; a probe the round left out is due again next cycle."""
        gates = list(self._http_gates(policy))
        # A daemon samples one round per cycle and keeps samples across cycles. A one-shot
        # process (`once`, `plan`) has no earlier cycles: it takes as many rounds as the
        # longest streak needs, each gate's interval apart, so it can reach a verdict too.
        rounds = max((g.successes for g, _, _ in gates), default=1) if one_shot else 1
        for round_number in range(rounds):
            if round_number:
                self.wait(min(g.interval for g, _, _ in gates).total_seconds())
            now = self.clock()
            due: list[ProbeRequest] = []
            # A round is bounded (reconciler.probes): what it leaves out goes first next
            # time, or a few hanging endpoints would starve every gate behind them.
            for gate, app, source in sorted(gates, key=self._stalest_first):
                last = self._probed_at.get((gate.name, app, source))
                if round_number == 0 and last is not None and now - last < gate.interval:
                    continue
                digest = self._running(policy, app, source, overlays, live)
                due.append(
                    ProbeRequest(gate, app, source, digest, policy.settings.private_redirects)
                )
            taken = self.prober.probe(due) if due else []
            moved = self._moved(policy, due, taken)
            for sample in taken:
                if (sample.app, sample.env) in moved:
                    continue  # of either digest: dropped, and probed again next cycle
                key = (sample.gate, sample.app, sample.env)
                self._probed_at[key] = now
                self._samples.setdefault(key, deque(maxlen=SAMPLES_KEPT)).append(sample)
        return self.kept()

    def kept(self) -> tuple[Sample, ...]:
        """The samples kept from earlier rounds, none taken now."""
        return tuple(s for bucket in self._samples.values() for s in bucket)

    def _stalest_first(self, entry: tuple[HttpGate, str, str]) -> tuple[int, datetime] | tuple[int]:
        last = self._probed_at.get((entry[0].name, entry[1], entry[2]))
        return (0,) if last is None else (1, last)

    def _moved(
        self, policy: Policy, due: Sequence[ProbeRequest], taken: Sequence[Sample]
    ) -> set[Key]:
        """The (app, env) pairs whose live digest after the round is not the one read before
        it: a rollout ran meanwhile, so their samples may be of either digest. One read per
        environment with a live source; an overlay pin cannot move within a cycle."""
        before = {(r.app, r.env): r.live_digest for r in due}
        probed: dict[str, set[str]] = {}
        for sample in taken:
            if sample.env in policy.live:
                probed.setdefault(sample.env, set()).add(sample.app)
        moved: set[Key] = set()
        for env, apps in probed.items():
            reader = self.live_reader(policy, env)
            if reader is None:
                continue  # none before either: the samples are bound to no digest
            after = reader.read(sorted((app, env) for app in apps))
            moved.update(pair for pair, state in after.items() if _steady(state) != before[pair])
        return moved

    @staticmethod
    def _http_gates(policy: Policy) -> Iterable[tuple[HttpGate, str, str]]:
        seen = set()
        for target in policy.environments.values():
            if target.follows is None:
                continue
            for name in target.gates:
                gate = policy.gates.get(name)
                if not isinstance(gate, HttpGate):
                    continue
                for app in policy.apps_in(target.name):
                    key = (name, app.name, target.follows)
                    if key not in seen:
                        seen.add(key)
                        yield gate, app.name, target.follows

    @staticmethod
    def _running(
        policy: Policy,
        app: str,
        env: str,
        overlays: Mapping[Key, OverlayState],
        live: Mapping[Key, LiveState],
    ) -> str | None:
        """What ``env`` runs for ``app`` as far as this cycle knows, for sample binding."""
        if env in policy.live:
            return _steady(live.get((app, env)))
        overlay = overlays.get((app, env))
        return (overlay.pin.digest or None) if overlay and overlay.pin else None


def _steady(state: LiveState | None) -> str | None:
    """The digest a live state binds samples to: None while unknown or rolling out."""
    return state.digest if state and not state.rolling else None
