"""plan(policy, snapshot, now) -> Plan: what this cycle should do, and what is blocked and why.

Pure and deterministic: no clock, no I/O. For every edge (source -> target) and every app,
the candidate is the digest the source overlay pins; it is promoted into the target only
when every gate passes on the source, nothing holds it, and (for `require_codeowners`) the
forge enforces a code owner's review and CODEOWNERS covers the overlay. One rolling
request per (app, target env); a newer candidate updates it rather than opening another.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.actions import Plan
from reconciler.planning import promotion, registry, requests, sightings
from reconciler.planning.draft import Draft
from reconciler.policy.model import Policy
from reconciler.snapshot import Snapshot


def plan(policy: Policy, snapshot: Snapshot, now: datetime) -> Plan:
    """The plan for ``snapshot`` under ``policy`` at ``now``."""
    draft = Draft(policy, snapshot, now)
    for target in policy.ordered():
        if target.follows is None:
            continue
        source = policy.environments[target.follows]
        for app in policy.apps_in(target.name):
            if policy.has_app_in(app.name, source.name):
                promotion.edge(draft, app, source, target)
    requests.close_unwanted(draft)
    sightings.record_live(draft)
    registry.move_tags(draft)
    notes = tuple(
        f"policy on {snapshot.base_branch} is invalid: {e}" for e in snapshot.policy_errors
    )
    return Plan(
        tuple(draft.actions),
        tuple(draft.blocked),
        tuple(draft.results),
        notes,
        timed=draft.timed,
    )
