"""Gate sampling: probe the HTTP gates of edges with a candidate, and keep samples bound to
what ran.

Only an edge with a candidate is sampled (its source pins a digest the target does not,
the source runs it, and no hold stops it); a settled repo sends no probes, and an edge's
samples are dropped once it settles. A gate is probed at its own interval, and at once for
a digest it has not sampled yet, so a new candidate is probed in the cycle that finds it;
``next_due`` tells the daemon when the next probe is due, so the next sample is taken at
the gate's interval rather than at the next poll. Samples are observations: a restart
simply collects them again. A round is bounded (reconciler.probes): what it leaves out goes
first next time. The live digest is read again after the round, and a sample whose
environment moved meanwhile is dropped.
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
_Triple = tuple[str, str, str]  # (gate, app, source environment)


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
        self._samples: dict[_Triple, deque[Sample]] = {}
        # (gate, app, source) -> the digest last probed there, and when.
        self._probed_at: dict[_Triple, tuple[str | None, datetime]] = {}
        self.next_due: datetime | None = None  # when a kept edge's next probe is due

    def sample(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        live: Mapping[Key, LiveState],
        offered: Mapping[Key, str],
        *,
        one_shot: bool,
    ) -> tuple[Sample, ...]:
        """Probe the due gates of the edges in ``offered`` ((app, target) -> candidate),
        least recently probed first, and keep the samples still bound to what ran; a probe
        the round left out is due again next cycle."""
        gates = list(self._http_gates(policy, live, offered))
        self._forget({(g.name, app, source) for g, app, source in gates})
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
                digest = self._running(policy, app, source, overlays, live)
                last = self._probed_at.get((gate.name, app, source))
                fresh = last is not None and last[0] == digest and now - last[1] < gate.interval
                if round_number == 0 and fresh:
                    continue
                due.append(
                    ProbeRequest(gate, app, source, digest, policy.settings.private_redirects)
                )
            taken = self.prober.probe(due) if due else []
            moved = self._moved(policy, due, taken)
            for sample in taken:
                if (sample.app, sample.env) in moved:
                    continue  # of either digest: dropped, and probed again next cycle
                key = (sample.gate, sample.app, sample.env)
                self._probed_at[key] = (sample.live_digest, now)
                self._samples.setdefault(key, deque(maxlen=SAMPLES_KEPT)).append(sample)
        self.next_due = min(
            (
                self._probed_at[(g.name, app, source)][1] + g.interval
                for g, app, source in gates
                if (g.name, app, source) in self._probed_at
                and not self._streak_done(g, (g.name, app, source))
            ),
            default=None,
        )
        return self.kept()

    def _streak_done(self, gate: HttpGate, key: _Triple) -> bool:
        """Whether the gate's latest samples are a whole streak of successes on one digest:
        then it has passed, and later samples can wait for the poll."""
        latest = list(self._samples.get(key, ()))[-gate.successes :]
        digests = {sample.live_digest for sample in latest}
        return len(latest) == gate.successes and all(s.ok for s in latest) and len(digests) == 1

    def kept(self) -> tuple[Sample, ...]:
        """The samples kept from earlier rounds, none taken now."""
        return tuple(s for bucket in self._samples.values() for s in bucket)

    def _forget(self, wanted: set[_Triple]) -> None:
        """Drop what is kept for the gates of edges that settled (or lost their candidate):
        their samples would be of another digest by the time one is offered again."""
        for key in [k for k in self._probed_at if k not in wanted]:
            del self._probed_at[key]
        for key in [k for k in self._samples if k not in wanted]:
            del self._samples[key]

    def _stalest_first(self, entry: tuple[HttpGate, str, str]) -> tuple[int, datetime] | tuple[int]:
        last = self._probed_at.get((entry[0].name, entry[1], entry[2]))
        return (0,) if last is None else (1, last[1])

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

    def _http_gates(
        self,
        policy: Policy,
        live: Mapping[Key, LiveState],
        offered: Mapping[Key, str],
    ) -> Iterable[tuple[HttpGate, str, str]]:
        """The HTTP gates of the offered edges whose source runs the candidate (a source
        with a live source running something else blocks as not live: nothing to probe)."""
        seen: set[_Triple] = set()
        envs = list(policy.environments)
        # In the policy's order, visiting only the offered edges (a settled 10,000-app repo
        # offers none, and walking every app to find that out costs milliseconds a cycle).
        for app, target_name in sorted(offered, key=lambda k: (envs.index(k[1]), k[0])):
            target = policy.environments.get(target_name)
            if target is None or target.follows is None:
                continue
            source = target.follows
            if (
                source in policy.live
                and _steady(live.get((app, source))) != offered[(app, target_name)]
            ):
                continue
            yield from self._gates_of(policy, target.gates, app, source, seen)

    @staticmethod
    def _gates_of(
        policy: Policy, names: Iterable[str], app: str, source: str, seen: set[_Triple]
    ) -> Iterable[tuple[HttpGate, str, str]]:
        """The HTTP gates among ``names`` for ``app`` on ``source``, each once."""
        for name in names:
            gate = policy.gates.get(name)
            key = (name, app, source)
            if isinstance(gate, HttpGate) and key not in seen:
                seen.add(key)
                yield gate, app, source

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
