"""Each (app, env)'s gauges after a cycle: drift, lag, gates, pending, blocked.

``pair_gauges`` makes them for some apps (or all) from the policy, the snapshot and the
plan; ``GaugeKeeper`` keeps the last ones and, like the replanner, makes again only the
apps whose facts or plan changed, or whose figures grow with time (drift and lag
seconds). At 10,000 apps a whole set is 30,000 pairs; a push changes a few.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from reconciler import drift, units
from reconciler.actions import Merge, Plan, Propose, action_key
from reconciler.metrics import PairGauges
from reconciler.policy.model import App, Environment, Policy
from reconciler.reasons import BlockedCode
from reconciler.snapshot import Snapshot

Key = tuple[str, str]


def pair_gauges(
    policy: Policy,
    snap: Snapshot,
    plan: Plan,
    now: datetime,
    pairs: Iterable[tuple[Environment, App]],
) -> tuple[dict[Key, PairGauges], set[str]]:
    """The gauges of ``pairs``, and the apps whose figures grow with ``now``."""
    pending = {action_key(a) for a in plan.actions if isinstance(a, (Propose, Merge))}
    pending |= set(snap.requests)
    gate_results: dict[Key, list[tuple[str, bool]]] = {}
    for a, e, r in plan.gates:
        gate_results.setdefault((a, e), []).append((r.gate, r.passed))
    blocked_codes: dict[Key, set[BlockedCode]] = {}
    for b in plan.blocked:
        blocked_codes.setdefault((b.app, b.env), set()).add(b.code)
    out: dict[Key, PairGauges] = {}
    timed: set[str] = set()
    for env, app in pairs:
        key = (app.name, env.name)
        overlay = snap.overlays.get(key)
        desired = overlay.pin.digest if overlay and overlay.pin and overlay.pin.digest else None
        pinned = drift.Pinned(desired, overlay.changed_at if overlay else None)
        live_state = snap.live.get(key)
        running = (
            drift.Running(live_state.digest, live_state.since, live_state.rolling)
            if live_state is not None
            else None
        )
        judged = drift.drift(pinned, running)
        if judged.drifted and judged.since is not None:
            timed.add(app.name)
        lag = 0.0
        if env.follows is not None:
            src = snap.overlays.get((app.name, env.follows))
            src_digest = src.pin.digest if src and src.pin and src.pin.digest else None
            source = drift.Pinned(src_digest, src.changed_at if src else None)
            lag = drift.lag_seconds(pinned, source, now)
            if source.digest is not None and desired != source.digest and source.since:
                timed.add(app.name)
        out[key] = PairGauges(
            app=app.name,
            env=env.name,
            desired_digest=desired,
            live_digest=live_state.digest if live_state else None,
            drift=judged.drifted if judged.known else None,
            drift_seconds=judged.seconds(now),
            lag_seconds=lag,
            pending=key in pending,
            gates=tuple(gate_results.get(key, ())),
            blocked=tuple(sorted(blocked_codes.get(key, ()))),
            tag_drift=_tag_drift(snap, app, env.registry_tag, desired),
        )
    return out, timed


class GaugeKeeper:
    """The last cycle's pair gauges, made again only where something changed."""

    def __init__(self) -> None:
        self._policy: Policy | None = None
        self._order: list[tuple[Environment, App]] = []
        self._where: dict[str, list[int]] = {}  # app -> its positions in the order
        self._flat: list[PairGauges] = []
        self._made: tuple[PairGauges, ...] = ()
        self._timed: set[str] = set()
        self.apps_made = 0  # apps the last call made again (tests)

    def report(
        self,
        policy: Policy | None,
        snap: Snapshot,
        plan: Plan,
        now: datetime,
        changed: Collection[str] | None,
    ) -> tuple[PairGauges, ...]:
        """Every pair's gauges, in policy order; ``changed``: the apps whose facts or plan
        changed since the last call (None: anything may have)."""
        if policy is None:
            self._policy = None
            self._made = ()
            return self._made
        if policy is not self._policy or changed is None:
            self._lay_out(policy)
            made, self._timed = pair_gauges(policy, snap, plan, now, self._order)
            self._flat = [made[(app.name, env.name)] for env, app in self._order]
            self.apps_made = len(policy.apps)
        else:
            apps = {*changed, *self._timed} & self._where.keys()
            self.apps_made = len(apps)
            if not apps:
                return self._made
            positions = [i for app in apps for i in self._where[app]]
            made, timed = pair_gauges(policy, snap, plan, now, (self._order[i] for i in positions))
            self._timed = (self._timed - apps) | timed
            for i in positions:
                env, app = self._order[i]
                self._flat[i] = made[(app.name, env.name)]
        self._made = tuple(self._flat)
        return self._made

    def _lay_out(self, policy: Policy) -> None:
        self._policy = policy
        self._order = [(env, app) for env in policy.ordered() for app in policy.apps_in(env.name)]
        self._where = {}
        for i, (_, app) in enumerate(self._order):
            self._where.setdefault(app.name, []).append(i)


def _tag_drift(snap: Snapshot, app: App, tag: str | None, desired: str | None) -> bool | None:
    """Whether the env's registry tag points elsewhere than git pins (any part's, for an
    image unit); None when unknown."""
    if not tag or desired is None:
        return None
    wanted = units.parts(desired) if app.is_unit else {"": desired}
    if wanted is None:
        return None
    drifted = False
    for name, part in app.parts():
        fact = snap.tags.get((part.image, tag))
        if fact is None or fact.error:
            return None
        drifted = drifted or fact.digest != wanted.get(name)
    return drifted
