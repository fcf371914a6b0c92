"""plan(policy, snapshot, now) -> Plan: what this cycle should do, and what is blocked and why.

Pure and deterministic: no clock, no I/O. For every edge (source -> target) and every app,
the candidate is the digest the source overlay pins; it is promoted into the target only
when every gate passes on the source, nothing holds it, and (for `require_codeowners`) the
forge enforces a code owner's review and CODEOWNERS covers the overlay. One rolling
request per (app, target env); a newer candidate updates it rather than opening another.
``planning.replanner`` gives the same plan, making again only what a cycle's changes touch.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.actions import Plan
from reconciler.planning.parts import Layout, assemble, plan_apps
from reconciler.policy.model import Policy
from reconciler.snapshot import Snapshot


def plan(policy: Policy, snapshot: Snapshot, now: datetime) -> Plan:
    """The plan for ``snapshot`` under ``policy`` at ``now``."""
    return assemble(plan_apps(Layout(policy), snapshot, now).values(), snapshot)
