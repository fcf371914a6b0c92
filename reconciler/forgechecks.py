"""The forge's checks for the `checks` gates: read for the edges with a candidate only.

For each edge with a candidate whose target has a `checks` gate, the forge is asked what
the check runs and commit statuses on the source overlay's commit say
(``Forge.commit_checks``), bound to the candidate digest and that commit. An answer is
kept across cycles and asked again at the gate's interval while it can still change
(something waits or failed: a failed check may be re-run), at once for a new digest or
commit, and not at all once everything the gates want has passed. A cycle asks at most
``READS_PER_CYCLE`` times, stalest first; the GitHub forge's reads are conditional (an
unchanged answer costs no rate limit). A read that fails is kept as an error for the gate
to show, not raised: one unreadable commit must not stop the cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from reconciler.errors import PermanentError, RateLimited, TransientError
from reconciler.forge.port import Forge
from reconciler.gates.checks import evaluate_checks
from reconciler.policy import Policy
from reconciler.policy.model import ChecksGate
from reconciler.snapshot import CheckFacts, Key, OverlayState

READS_PER_CYCLE = 20


@dataclass(frozen=True)
class _Wanted:
    commit: str
    digest: str
    gates: tuple[ChecksGate, ...]

    @property
    def required(self) -> bool:
        return any(g.required for g in self.gates)

    @property
    def interval(self) -> timedelta:
        return min(g.interval for g in self.gates)


class CheckReader:
    """Keeps each (app, source environment)'s last answer and asks again when due."""

    def __init__(self, forge: Forge, clock: Callable[[], datetime]) -> None:
        self.forge = forge
        self.clock = clock
        self._kept: dict[Key, CheckFacts] = {}
        self.next_due: datetime | None = None  # when a kept answer is next asked again

    def read(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        offered: Mapping[Key, str],
        base_branch: str,
    ) -> Mapping[Key, CheckFacts]:
        """Ask the forge about the due commits of the edges in ``offered`` ((app, target)
        -> candidate digest); the facts kept for every edge still wanting them."""
        wanted = _wanted(policy, overlays, offered)
        for key in [k for k in self._kept if k not in wanted]:
            del self._kept[key]
        now = self.clock()
        due = [key for key, want in wanted.items() if self._due(key, want, base_branch, now)]
        due.sort(key=lambda k: (k in self._kept, self._kept[k].read_at if k in self._kept else now))
        answers: dict[tuple[str, bool], CheckFacts] = {}
        for key in due[:READS_PER_CYCLE]:
            want = wanted[key]
            asked = (want.commit, want.required)
            if asked not in answers:
                answers[asked] = self._ask(want, base_branch, now)
            facts = answers[asked]
            self._kept[key] = CheckFacts(
                commit=facts.commit,
                digest=want.digest,
                read_at=facts.read_at,
                read=facts.read,
                error=facts.error,
            )
        left_out = len(due) > READS_PER_CYCLE
        self.next_due = (
            now
            if left_out
            else min(
                (
                    self._kept[key].read_at + want.interval
                    for key, want in wanted.items()
                    if key in self._kept and not self._settled(want, self._kept[key], base_branch)
                ),
                default=None,
            )
        )
        return self.kept()

    def kept(self) -> Mapping[Key, CheckFacts]:
        """The answers kept from earlier cycles, none asked now."""
        return MappingProxyType(dict(self._kept))

    def _due(self, key: Key, want: _Wanted, base_branch: str, now: datetime) -> bool:
        kept = self._kept.get(key)
        if kept is None or kept.commit != want.commit or kept.digest != want.digest:
            return True
        if self._settled(want, kept, base_branch):
            return False
        return now - kept.read_at >= want.interval

    @staticmethod
    def _settled(want: _Wanted, kept: CheckFacts, base_branch: str) -> bool:
        """Whether every gate has passed on this answer: nothing left to wait for."""
        return all(
            evaluate_checks(gate, want.commit, kept.read, base_branch=base_branch).passed
            for gate in want.gates
        )

    def _ask(self, want: _Wanted, base_branch: str, now: datetime) -> CheckFacts:
        required_on = base_branch if want.required else None
        try:
            read = self.forge.commit_checks(want.commit, required_on=required_on)
        except RateLimited:
            raise  # the daemon waits for the limit to reset before it asks anything else
        except (TransientError, PermanentError) as failed:
            return CheckFacts(
                commit=want.commit, digest=want.digest, read_at=now, error=str(failed)
            )
        return CheckFacts(commit=want.commit, digest=want.digest, read_at=now, read=read)


def _wanted(
    policy: Policy, overlays: Mapping[Key, OverlayState], offered: Mapping[Key, str]
) -> dict[Key, _Wanted]:
    """(app, source) -> the commit, candidate and `checks` gates of the offered edges (two
    targets following one source share its answer)."""
    found: dict[Key, _Wanted] = {}
    for key, edge in _edges(policy, overlays, offered):
        kept = found.get(key)
        found[key] = _Wanted(edge.commit, edge.digest, kept.gates + edge.gates) if kept else edge
    return found


def _edges(
    policy: Policy, overlays: Mapping[Key, OverlayState], offered: Mapping[Key, str]
) -> Iterator[tuple[Key, _Wanted]]:
    for (app, target_name), digest in offered.items():
        target = policy.environments.get(target_name)
        if target is None or target.follows is None:
            continue
        gates = tuple(g for n in target.gates if isinstance(g := policy.gates.get(n), ChecksGate))
        src = overlays.get((app, target.follows))
        if gates and src is not None and src.commit:
            yield (app, target.follows), _Wanted(src.commit, digest, gates)
