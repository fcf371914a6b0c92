"""The plan made again only for the apps a cycle's changes touch.

``Replanner.plan`` returns exactly ``planning.plan(policy, snapshot, now)``: it keeps the
last plan cut by app (``planning.parts``) and makes again the apps whose facts changed
since (overlays, live states, requests, registry facts, gate samples: found by comparing
the two snapshots, cheaply when they are ``Revision``s), and the apps whose last
decisions read the clock. A new policy or a change to a policy-wide fact (CODEOWNERS,
teams, enforcement) makes everything again. At 10,000 apps a push that changes one
overlay costs one app's planning, not 20,000 edges'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from reconciler.actions import Plan
from reconciler.planning.parts import AppPlan, Layout, assemble, plan_apps
from reconciler.policy.model import Policy
from reconciler.revisions import changed_keys
from reconciler.snapshot import Snapshot

# Facts every app's plan may read: any change to one makes the whole plan again.
_WIDE = (
    "base_branch",
    "codeowners",
    "enforcement",
    "teams",
    "unreadable_teams",
    "policy_errors",
    "sampled",
    "codeowners_errors",
)
# Facts keyed by (app, environment).
_BY_APP = (
    "overlays",
    "live",
    "requests",
    "awaiting_live",
    "applications",
    "damaged",
    "checks",
    "changes",
)
# Facts keyed by (image repository, tag or digest).
_BY_IMAGE = ("tags", "digests")


@dataclass(frozen=True)
class _Memo:
    layout: Layout
    snapshot: Snapshot
    plans: Mapping[str, AppPlan]  # only apps with parts or a timed decision
    plan: Plan


class Replanner:
    """Keeps the last plan by app; ``plan`` makes again what changed."""

    def __init__(self) -> None:
        self._last: _Memo | None = None
        self.apps_planned = 0  # apps the last call planned (tests, benchmarks)
        # The apps planned again since ``take_changed`` was last called; None: all of them.
        self._changed: set[str] | None = None

    def take_changed(self) -> frozenset[str] | None:
        """The apps whose plan or facts may have changed since the last call (None: any
        app may have): what the gauges must make again."""
        changed, self._changed = self._changed, set()
        return None if changed is None else frozenset(changed)

    def plan(self, policy: Policy, snapshot: Snapshot, now: datetime) -> Plan:
        """The plan for ``snapshot`` under ``policy`` at ``now``."""
        last = self._last
        layout = last.layout if last is not None and last.layout.policy is policy else None
        dirty = _dirty(layout, last.snapshot, snapshot) if layout and last else None
        if layout is None or last is None or dirty is None:
            layout = layout or Layout(policy)
            plans = plan_apps(layout, snapshot, now)
            self.apps_planned = len(policy.apps)
            self._changed = None
        else:
            dirty |= {app for app, p in last.plans.items() if p.timed}
            if not dirty:  # the same plan: kept as the same object (gauges reuse theirs)
                self._last = _Memo(layout, snapshot, last.plans, last.plan)
                self.apps_planned = 0
                return last.plan
            fresh = plan_apps(layout, snapshot, now, dirty) if dirty else {}
            plans = {a: p for a, p in last.plans.items() if a not in dirty}
            plans.update(fresh)
            self.apps_planned = len(dirty)
            if self._changed is not None:
                self._changed |= dirty
        made = assemble(plans.values(), snapshot)
        self._last = _Memo(layout, snapshot, plans, made)
        return made


def _dirty(layout: Layout, old: Snapshot, new: Snapshot) -> set[str] | None:
    """The apps whose facts differ between ``old`` and ``new``; None when a policy-wide
    fact differs (every app must be planned again)."""
    for name in _WIDE:
        if getattr(old, name) != getattr(new, name):
            return None
    apps: set[str] = set()
    for name in _BY_APP:
        apps.update(key[0] for key in changed_keys(getattr(old, name), getattr(new, name)))
    for name in _BY_IMAGE:
        for repository, _ in changed_keys(getattr(old, name), getattr(new, name)):
            owners = layout.by_image.get(repository)
            if owners is None:
                return None  # a fact about an image no app names: be safe
            apps |= owners
    if old.samples != new.samples:
        apps.update(s.app for s in set(old.samples) ^ set(new.samples))
    return apps
