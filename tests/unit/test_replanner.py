"""The replanner gives the whole plan while making again only the apps whose facts changed.

A policy of 30 apps; each case changes one kind of fact from a settled, planned snapshot
and checks both things a user relies on: the plan equals ``planning.plan`` of the new
snapshot (nothing stale kept), and only the touched apps were planned again (what keeps a
10,000-app cycle cheap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reconciler import codeowners
from reconciler.forge.port import Request
from reconciler.gates import PinFact, Sample
from reconciler.overlays.imageref import ImagePin
from reconciler.planning import plan
from reconciler.planning.replanner import Replanner
from reconciler.policy import Policy, load_policy
from reconciler.revisions import Revision
from reconciler.snapshot import LiveState, OverlayState, RequestState, Snapshot, TagFact

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
APPS = [f"app{n:02d}" for n in range(30)]
ENVS = ("dev", "staging", "prod")


def digest(name: str) -> str:
    return "sha256:" + format(abs(hash(name)) % (16**64), "064x")


def make_policy() -> Policy:
    lines = ["version = 1", "[registry]", 'kind = "oci"']
    for app in APPS:
        lines += [f"[apps.{app}]", f'image = "reg.example.com/team/{app}"']
    lines += [
        "[environments.dev]",
        'overlay = "overlays/dev/{app}"',
        "[environments.staging]",
        'follows = "dev"',
        'overlay = "overlays/staging/{app}"',
        "auto_merge = true",
        'gates = ["soak", "health"]',
        "[environments.prod]",
        'follows = "staging"',
        'overlay = "overlays/prod/{app}"',
        "require_codeowners = true",
        "[gates.soak]",
        'kind = "soak"',
        'duration = "10m"',
        "[gates.health]",
        'kind = "http"',
        'url = "http://{env}.{app}.test/healthz"',
    ]
    result = load_policy("\n".join(lines).encode())
    assert result.policy is not None, result.diagnostics
    return result.policy


POLICY = make_policy()


def overlay(app: str, env: str, pin: str, *, tag: str = "") -> OverlayState:
    return OverlayState(
        path=f"overlays/{env}/{app}/kustomization.yaml",
        pin=ImagePin(f"reg.example.com/team/{app}", tag, pin),
        commit=f"c-{app}-{env}",
        changed_at=NOW - timedelta(days=1),
        history=(
            PinFact(f"c-{app}-{env}", NOW - timedelta(days=1), pin or None, by_reconciler=False),
        )
        if pin
        else (),
    )


def settled() -> Snapshot:
    """Every app pins the same digest in every environment: nothing to do."""
    return Snapshot(
        base_branch="main",
        base_commit="c0",
        overlays=Revision({(a, e): overlay(a, e, digest(a)) for a in APPS for e in ENVS}),
        codeowners=codeowners.parse("/overlays/prod/ @acme/release\n", ".github/CODEOWNERS"),
        teams={"@acme/release": frozenset({"@ann"})},
    )


def repin(snap: Snapshot, app: str, env: str, pin: str, *, tag: str = "") -> Snapshot:
    assert isinstance(snap.overlays, Revision)
    return replace(
        snap,
        base_commit=snap.base_commit + "+",
        overlays=snap.overlays.derive({(app, env): overlay(app, env, pin, tag=tag)}),
    )


def request(app: str, env: str) -> RequestState:
    return RequestState(
        Request(
            number=9,
            head_branch=f"promote/{env}/{app}",
            head_commit="h",
            base_branch="main",
            title="t",
            body="b",
            author="@reconciler",
            labels=("promotion",),
            state="open",
            created_at=NOW - timedelta(hours=2),
            updated_at=NOW - timedelta(hours=1),
        )
    )


def sample(app: str, seconds_ago: int = 60, pin: str = "new") -> Sample:
    return Sample(
        gate="health",
        app=app,
        env="dev",
        taken_at=NOW - timedelta(seconds=seconds_ago),
        ok=True,
        detail="status 200",
        live_digest=digest(pin),
    )


Change = Callable[[Snapshot], Snapshot]
# (what changes, the change, how many apps must be planned again)
CASES: list[tuple[str, Change, int]] = [
    ("nothing", lambda s: replace(s, base_commit="c1"), 0),
    ("one dev overlay", lambda s: repin(s, "app03", "dev", digest("new")), 1),
    (
        "two apps' overlays in one push",
        lambda s: repin(repin(s, "app03", "dev", digest("new")), "app17", "staging", digest("x")),
        2,
    ),
    ("a tag-only pin", lambda s: repin(s, "app05", "dev", "", tag="v2"), 1),
    (
        "a request opened elsewhere",
        lambda s: replace(s, requests={("app08", "prod"): request("app08", "prod")}),
        1,
    ),
    (
        "a request for an app the policy no longer has",
        lambda s: replace(s, requests={("gone", "prod"): request("gone", "prod")}),
        1,
    ),
    (
        "a live state (the same overlay objects, rebuilt live mapping)",
        lambda s: replace(s, live={("app11", "dev"): LiveState(digest("app11"), NOW)}),
        1,
    ),
    (
        "a registry tag fact",
        lambda s: replace(s, tags={("reg.example.com/team/app21", "v2"): TagFact(digest("t"))}),
        1,
    ),
    ("a gate sample", lambda s: replace(s, samples=(sample("app02"),)), 1),
    (
        "CODEOWNERS (policy-wide)",
        lambda s: replace(s, codeowners=codeowners.parse("/overlays/ @acme/release\n")),
        len(APPS),
    ),
    (
        "team members (policy-wide)",
        lambda s: replace(s, teams={"@acme/release": frozenset({"@bo"})}),
        len(APPS),
    ),
]


@pytest.mark.parametrize(("what", "change", "planned"), CASES, ids=[c[0] for c in CASES])
def test_a_change_plans_only_the_apps_it_touches_and_gives_the_whole_plan(
    what: str, change: Change, planned: int
) -> None:
    replanner = Replanner()
    before = settled()
    assert replanner.plan(POLICY, before, NOW - timedelta(minutes=5)) == plan(
        POLICY, before, NOW - timedelta(minutes=5)
    )
    after = change(before)
    made = replanner.plan(POLICY, after, NOW)
    assert made == plan(POLICY, after, NOW), what
    assert replanner.apps_planned == planned, what


def test_a_candidate_in_soak_is_planned_each_cycle_until_it_passes() -> None:
    """A decision that read the clock (soak ends at a time) is made again every cycle,
    even when nothing else changed: its verdict moves with time."""
    replanner = Replanner()
    snap = repin(settled(), "app04", "dev", digest("new"))
    soaking = replace(
        snap,
        overlays=snap.overlays.derive(  # type: ignore[attr-defined]
            {
                ("app04", "dev"): replace(
                    snap.overlays[("app04", "dev")],
                    changed_at=NOW - timedelta(minutes=2),
                    history=(
                        PinFact(
                            "c-new", NOW - timedelta(minutes=2), digest("new"), by_reconciler=False
                        ),
                    ),
                )
            }
        ),
        samples=tuple(sample("app04", s) for s in (30, 20, 10)),
    )
    first = replanner.plan(POLICY, soaking, NOW)
    assert any(b.app == "app04" and b.code == "gate:soaking" for b in first.blocked), first
    later = NOW + timedelta(minutes=9)
    assert replanner.plan(POLICY, soaking, later) == plan(POLICY, soaking, later)
    assert replanner.apps_planned == 1
    passed = replanner.plan(POLICY, soaking, NOW + timedelta(minutes=20))
    assert passed == plan(POLICY, soaking, NOW + timedelta(minutes=20))


def test_a_run_of_changes_always_gives_the_whole_plan() -> None:
    """Several cycles in a row, each building on the last, compared with the whole plan."""
    replanner = Replanner()
    snap = settled()
    steps: list[Change] = [
        lambda s: repin(s, "app01", "dev", digest("n1")),
        lambda s: replace(s, requests={("app01", "staging"): request("app01", "staging")}),
        lambda s: repin(s, "app01", "staging", digest("n1")),
        lambda s: replace(s, requests={}),
        lambda s: repin(s, "app09", "prod", digest("rolled-back")),
        lambda s: replace(s, samples=(sample("app01"),)),
        lambda s: repin(s, "app01", "dev", digest("n2")),
    ]
    for n, step in enumerate(steps):
        snap = step(snap)
        at = NOW + timedelta(minutes=n)
        assert replanner.plan(POLICY, snap, at) == plan(POLICY, snap, at), n
