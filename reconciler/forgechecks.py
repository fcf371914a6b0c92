"""The forge's checks for the `checks` gates: read for the edges with a candidate only.

For each edge with a candidate whose target has a `checks` gate, the forge is asked what
the check runs and commit statuses say on the gate's commit (``Forge.commit_checks``): the
one that last changed the source overlay in the config repo (``commit = "config"``), or
the candidate's revision in its source repository, both read from the image's
``org.opencontainers.image.revision`` and ``.source`` labels through the registry port
(``commit = "source"``; kept by digest, since an image's config never changes). Answers are
bound to the candidate digest and that commit, kept across cycles and asked again at the
gate's interval while they can still change (something waits or failed: a failed check may
be re-run), at once for a new digest or commit, and not at all once everything the gates
want has passed. A cycle reads at most ``READS_PER_CYCLE`` times (labels and checks
together), stalest first; the GitHub forge's reads are conditional (an unchanged answer
costs no rate limit). A read that fails is kept as an error for the gate to show, not
raised: one unreadable commit must not stop the cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from reconciler import units
from reconciler.errors import PermanentError, RateLimited, ReconcilerError, TransientError
from reconciler.forge.port import Forge
from reconciler.gates.checks import evaluate_checks
from reconciler.model import short
from reconciler.policy import Policy
from reconciler.policy.model import ChecksGate
from reconciler.registry.port import ImageLabels, ImageRegistry
from reconciler.snapshot import CheckFacts, Key, OverlayState

READS_PER_CYCLE = 20
_LABELS_KEPT = 2_000
CheckKey = tuple[str, str, str]  # (app, source environment, "config" or "source")


@dataclass(frozen=True)
class _Wanted:
    commit: str | None  # None: the source revision, from the labels
    digest: str
    image: str
    gates: tuple[ChecksGate, ...]

    @property
    def required(self) -> bool:
        return any(g.required for g in self.gates)

    @property
    def interval(self) -> timedelta:
        return min(g.interval for g in self.gates)


class CheckReader:
    """Keeps each edge's last answer and asks again when due."""

    def __init__(self, forge: Forge, clock: Callable[[], datetime]) -> None:
        self.forge = forge
        self.clock = clock
        self._kept: dict[CheckKey, CheckFacts] = {}
        self._labels: dict[tuple[str, str], ImageLabels] = {}  # (image, digest)
        self.next_due: datetime | None = None  # when a kept answer is next asked again

    def read(
        self,
        policy: Policy,
        overlays: Mapping[Key, OverlayState],
        offered: Mapping[Key, str],
        base_branch: str,
        registry: ImageRegistry | None = None,
    ) -> Mapping[CheckKey, CheckFacts]:
        """Ask the forge about the due commits of the edges in ``offered`` ((app, target)
        -> candidate digest); the facts kept for every edge still wanting them."""
        wanted = _wanted(policy, overlays, offered)
        for key in [k for k in self._kept if k not in wanted]:
            del self._kept[key]
        now = self.clock()
        due = [key for key, want in wanted.items() if self._due(key, want, base_branch, now)]
        due.sort(key=lambda k: (k in self._kept, self._kept[k].read_at if k in self._kept else now))
        budget = READS_PER_CYCLE
        answers: dict[tuple[str | None, str | None, bool], CheckFacts] = {}
        left_out = False
        for key in due:
            want = wanted[key]
            commit, repository, problem = want.commit, None, None
            if want.commit is None:
                if (want.image, _lead(want.digest)) not in self._labels and budget <= 0:
                    left_out = True
                    continue
                budget -= (want.image, _lead(want.digest)) not in self._labels
                commit, repository, problem = self._source(registry, want)
            asked = (commit, repository, want.required)
            if problem is None and asked not in answers:
                if budget <= 0:
                    left_out = True
                    continue
                budget -= 1
                answers[asked] = self._ask(commit or "", repository, want, base_branch, now)
            facts = answers.get(asked) if problem is None else None
            self._kept[key] = CheckFacts(
                commit=commit,
                digest=want.digest,
                read_at=now,
                read=facts.read if facts else None,
                error=facts.error if facts else problem,
                repository=repository,
            )
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

    def kept(self) -> Mapping[CheckKey, CheckFacts]:
        """The answers kept from earlier cycles, none asked now."""
        return MappingProxyType(dict(self._kept))

    def _due(self, key: CheckKey, want: _Wanted, base_branch: str, now: datetime) -> bool:
        kept = self._kept.get(key)
        if kept is None or kept.digest != want.digest:
            return True
        if want.commit is not None and kept.commit != want.commit:
            return True
        if self._settled(want, kept, base_branch):
            return False
        return now - kept.read_at >= want.interval

    @staticmethod
    def _settled(want: _Wanted, kept: CheckFacts, base_branch: str) -> bool:
        """Whether every gate has passed on this answer: nothing left to wait for."""
        return all(
            evaluate_checks(gate, kept.commit, kept.read, base_branch=base_branch).passed
            for gate in want.gates
        )

    def _source(
        self, registry: ImageRegistry | None, want: _Wanted
    ) -> tuple[str | None, str | None, str | None]:
        """(revision, source repository URL, problem) of the candidate, from its labels."""
        lead = _lead(want.digest)
        image = f"{want.image}@{short(lead)}"
        if registry is None:
            return None, None, "the policy has no [registry] to read the image's labels from"
        labels = self._labels.get((want.image, lead))
        if labels is None:
            try:
                labels = registry.labels(want.image, lead)
            except RateLimited:
                raise
            except ReconcilerError as failed:
                return None, None, f"the labels of {image} could not be read: {failed}"
            if len(self._labels) > _LABELS_KEPT:
                self._labels.clear()
            self._labels[(want.image, lead)] = labels
        missing = [
            f"org.opencontainers.image.{name}"
            for name, value in (("revision", labels.revision), ("source", labels.source))
            if not value
        ]
        if missing:
            return None, None, f"{image} has no {' or '.join(missing)} label"
        return labels.revision, labels.source, None

    def _ask(
        self, commit: str, repository: str | None, want: _Wanted, base_branch: str, now: datetime
    ) -> CheckFacts:
        required_on = base_branch if want.required else None
        try:
            read = self.forge.commit_checks(commit, required_on=required_on, repository=repository)
        except RateLimited:
            raise  # the daemon waits for the limit to reset before it asks anything else
        except (TransientError, PermanentError) as failed:
            return CheckFacts(commit=commit, digest=want.digest, read_at=now, error=str(failed))
        return CheckFacts(commit=commit, digest=want.digest, read_at=now, read=read)


def _wanted(
    policy: Policy, overlays: Mapping[Key, OverlayState], offered: Mapping[Key, str]
) -> dict[CheckKey, _Wanted]:
    """The commit, candidate and `checks` gates of each offered edge's gate commit (two
    targets following one source share its answers)."""
    found: dict[CheckKey, _Wanted] = {}
    for key, edge in _edges(policy, overlays, offered):
        kept = found.get(key)
        found[key] = (
            _Wanted(edge.commit, edge.digest, edge.image, kept.gates + edge.gates) if kept else edge
        )
    return found


def _edges(
    policy: Policy, overlays: Mapping[Key, OverlayState], offered: Mapping[Key, str]
) -> Iterator[tuple[CheckKey, _Wanted]]:
    for (app_name, target_name), digest in offered.items():
        target = policy.environments.get(target_name)
        app = policy.apps.get(app_name)
        if target is None or target.follows is None or app is None:
            continue
        gates = [g for n in target.gates if isinstance(g := policy.gates.get(n), ChecksGate)]
        src = overlays.get((app_name, target.follows))
        config = tuple(g for g in gates if g.commit == "config")
        source = tuple(g for g in gates if g.commit == "source")
        if config and src is not None and src.commit:
            yield (
                (app_name, target.follows, "config"),
                _Wanted(src.commit, digest, app.image, config),
            )
        if source:
            # An image unit's source revision is read from its first part's labels.
            image, _ = app.lead(digest)
            yield (app_name, target.follows, "source"), _Wanted(None, digest, image, source)


def _lead(digest: str) -> str:
    """The digest whose labels are read: an image unit's first part's (``App.lead``)."""
    if not units.is_unit(digest):
        return digest
    return next(iter((units.parts(digest) or {"": ""}).values()))
