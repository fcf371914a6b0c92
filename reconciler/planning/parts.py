"""The plan cut by app: what planning decided for each app, and the plan put back together.

Everything planning decides for one app (its edges, a request to close, a sighting to
record, a registry tag to move) reads only that app's facts and the policy-wide ones
(CODEOWNERS, teams, enforcement). So the plan for a few apps can be made again alone and
merged with the rest of the last plan (``planning.replanner``); ``order`` puts every part
back where a whole plan would have it, so both give the same plan.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from reconciler.actions import Action, Blocked, Plan
from reconciler.forge.port import Request
from reconciler.gates import GateResult
from reconciler.planning import promotion, registry, requests, sightings
from reconciler.planning.draft import Draft
from reconciler.policy.model import App, Environment, Policy
from reconciler.snapshot import RequestState, Snapshot

Order = tuple[int, int, int] | tuple[int, str, str]


@dataclass(frozen=True)
class Part:
    """What one step of planning added for one app, and where it goes in the plan."""

    order: Order
    actions: tuple[Action, ...]
    blocked: tuple[Blocked, ...]
    results: tuple[tuple[str, str, GateResult], ...]


@dataclass(frozen=True)
class AppPlan:
    """One app's parts; ``timed``: a decision read the clock, so it must be made again."""

    parts: tuple[Part, ...] = ()
    timed: bool = False


class Layout:
    """Where each app appears in a policy: its edges and tag moves, in plan order.
    Made once per policy object (a 10,000-app policy has 20,000 edges)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        edges: dict[str, list[tuple[int, int, Environment, Environment, App]]] = {}
        tags: dict[str, list[tuple[int, int, Environment, App]]] = {}
        self.planned: set[tuple[str, str]] = set()
        self.by_image: dict[str, set[str]] = {}
        for env_index, target in enumerate(policy.ordered()):
            for app_index, app in enumerate(policy.apps_in(target.name)):
                if target.follows is not None and policy.has_app_in(app.name, target.follows):
                    source = policy.environments[target.follows]
                    edges.setdefault(app.name, []).append(
                        (env_index, app_index, source, target, app)
                    )
                    self.planned.add((app.name, target.name))
                if target.registry_tag and policy.registry is not None:
                    tags.setdefault(app.name, []).append((env_index, app_index, target, app))
        for app in policy.apps.values():
            for _, part in app.parts():  # each image of an app of several
                self.by_image.setdefault(part.image, set()).add(app.name)
        # Tuples once built: 10,000 apps' lists cost a megabyte more.
        self.edges = {name: tuple(found) for name, found in edges.items()}
        self.tags = {name: tuple(found) for name, found in tags.items()}


def plan_apps(
    layout: Layout, snapshot: Snapshot, now: datetime, apps: Collection[str] | None = None
) -> dict[str, AppPlan]:
    """Plan ``apps`` (None: every app); only apps with parts or a timed decision appear."""
    policy = layout.policy
    draft = Draft(policy, snapshot, now)
    draft.planned = layout.planned
    # A request may be for an app the policy no longer has: it is planned too (closed).
    wanted = (
        {*policy.apps, *(k[0] for k in snapshot.requests), *(k[0] for k in snapshot.awaiting_live)}
        if apps is None
        else apps
    )
    requests_of = _by_app(snapshot.requests.items(), wanted)
    waiting_of = _by_app(snapshot.awaiting_live.items(), wanted)
    out: dict[str, AppPlan] = {}
    for name in wanted:
        parts: list[Part] = []
        draft.timed = False
        for env_index, app_index, source, target, app in layout.edges.get(name, ()):
            _step(draft, parts, (0, env_index, app_index), promotion.edge, app, source, target)
        for key, held in requests_of.get(name, ()):
            _step(draft, parts, (1, *key), requests.close_unwanted, key, held)
        for key, request in waiting_of.get(name, ()):
            _step(draft, parts, (2, *key), sightings.record_live, key, request)
        for env_index, app_index, env, app in layout.tags.get(name, ()):
            _step(draft, parts, (3, env_index, app_index), registry.move_tag, env, app)
        if parts or draft.timed:
            out[name] = AppPlan(tuple(parts), draft.timed)
    return out


def assemble(plans: Collection[AppPlan], snapshot: Snapshot) -> Plan:
    """The whole plan from every app's parts, in the order one pass would have made it."""
    parts = sorted((part for p in plans for part in p.parts), key=lambda part: part.order)
    notes = tuple(
        f"policy on {snapshot.base_branch} is invalid: {e}" for e in snapshot.policy_errors
    )
    return Plan(
        tuple(a for part in parts for a in part.actions),
        tuple(b for part in parts for b in part.blocked),
        tuple(r for part in parts for r in part.results),
        notes,
    )


def _step(
    draft: Draft, parts: list[Part], order: Order, step: Callable[..., None], *args: object
) -> None:
    """Run one planning step and keep what it added as a part."""
    marks = len(draft.actions), len(draft.blocked), len(draft.results)
    step(draft, *args)
    if (len(draft.actions), len(draft.blocked), len(draft.results)) != marks:
        parts.append(
            Part(
                order,
                tuple(draft.actions[marks[0] :]),
                tuple(draft.blocked[marks[1] :]),
                tuple(draft.results[marks[2] :]),
            )
        )


def _by_app(
    items: Iterable[tuple[tuple[str, str], RequestState | Request]], apps: Collection[str]
) -> dict[str, list[tuple[tuple[str, str], RequestState | Request]]]:
    """Keyed facts grouped by app, each group sorted by key, for the apps wanted."""
    out: dict[str, list[tuple[tuple[str, str], RequestState | Request]]] = {}
    for key, value in sorted(items, key=lambda item: item[0]):
        if key[0] in apps:
            out.setdefault(key[0], []).append((key, value))
    return out
