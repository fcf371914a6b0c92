"""What the `checks` gates ask the forge, and when: only edges with a candidate, each commit
once per due time, at most READS_PER_CYCLE a cycle, nothing more once everything passed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reconciler.errors import TransientError
from reconciler.forgechecks import READS_PER_CYCLE, CheckReader
from reconciler.overlays.imageref import ImagePin
from reconciler.planning import plan
from reconciler.planning.replanner import Replanner
from reconciler.policy import Policy, load_policy
from reconciler.snapshot import DigestFact, OverlayState, Snapshot
from tests.fakes.forge import FakeForge
from tests.fakes.registry import FakeRegistry

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
NEW = "sha256:" + "2" * 64
OLD = "sha256:" + "1" * 64
APPS = [f"app{n:02d}" for n in range(READS_PER_CYCLE + 5)]


def make_policy() -> Policy:
    lines = ["version = 1"]
    for app in APPS:
        lines += [f"[apps.{app}]", f'image = "reg.example.com/team/{app}"']
    lines += [
        "[environments.staging]",
        'overlay = "overlays/staging/{app}"',
        "[environments.prod]",
        'follows = "staging"',
        'overlay = "overlays/prod/{app}"',
        "auto_merge = true",
        'gates = ["ci"]',
        "[gates.ci]",
        'kind = "checks"',
        'checks = ["e2e"]',
        'interval = "1m"',
    ]
    result = load_policy("\n".join(lines).encode())
    assert result.policy is not None, result.diagnostics
    return result.policy


POLICY = make_policy()


def sha(app: str) -> str:
    return format(abs(hash(app)), "040x")[:40]


def overlays() -> dict[tuple[str, str], OverlayState]:
    found = {}
    for app in APPS:
        found[(app, "staging")] = OverlayState(
            path=f"overlays/staging/{app}/kustomization.yaml",
            pin=ImagePin(f"reg.example.com/team/{app}", "", NEW),
            commit=sha(app),
        )
        found[(app, "prod")] = OverlayState(
            path=f"overlays/prod/{app}/kustomization.yaml",
            pin=ImagePin(f"reg.example.com/team/{app}", "", OLD),
            commit="c-prod",
        )
    return found


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_reads_are_bounded_stalest_first_and_stop_once_green() -> None:
    forge, clock = FakeForge(), Clock()
    reader = CheckReader(forge, clock)
    offered = {(app, "prod"): NEW for app in APPS}

    first = reader.read(POLICY, overlays(), offered, "main")
    assert len(forge.checks_read) == READS_PER_CYCLE
    assert reader.next_due == NOW  # some were left out: due at once
    forge.checks_read.clear()
    second = reader.read(POLICY, overlays(), offered, "main")
    assert len(forge.checks_read) == len(APPS) - READS_PER_CYCLE  # the ones left out first
    assert set(second) == {(app, "staging", "config") for app in APPS}
    assert len(first) < len(second)

    forge.checks_read.clear()
    reader.read(POLICY, overlays(), offered, "main")
    assert forge.checks_read == []  # not due before the interval
    for app in APPS:
        forge.set_status(sha(app), "e2e", "success")
    clock.now += timedelta(minutes=1)
    forge.checks_read.clear()
    reader.read(POLICY, overlays(), offered, "main")
    assert len(forge.checks_read) == READS_PER_CYCLE
    clock.now += timedelta(minutes=1)
    reader.read(POLICY, overlays(), offered, "main")
    clock.now += timedelta(minutes=5)
    forge.checks_read.clear()
    kept = reader.read(POLICY, overlays(), offered, "main")
    assert forge.checks_read == []  # all green: nothing left to wait for
    assert reader.next_due is None
    assert all(f.read and f.read.checks for f in kept.values())


def test_only_edges_with_a_candidate_are_read_and_the_rest_forgotten() -> None:
    forge = FakeForge()
    reader = CheckReader(forge, Clock())
    reader.read(POLICY, overlays(), {("app01", "prod"): NEW}, "main")
    assert forge.checks_read == [sha("app01")]
    assert reader.read(POLICY, overlays(), {}, "main") == {}


def test_a_failed_read_is_kept_as_an_error_and_blocks_as_unknown() -> None:
    forge = FakeForge()
    forge.checks_error = TransientError("GitHub answered 502")
    facts = CheckReader(forge, Clock()).read(POLICY, overlays(), {("app01", "prod"): NEW}, "main")
    snap = Snapshot(base_branch="main", base_commit="c0", overlays=overlays(), checks=facts)
    (blocked,) = [b for b in plan(POLICY, snap, NOW).blocked if b.app == "app01"]
    assert blocked.code == "gate:unknown"
    assert "GitHub answered 502" in blocked.reason


def test_facts_read_for_another_digest_or_commit_prove_nothing_and_replan_the_app() -> None:
    forge = FakeForge()
    forge.set_status(sha("app03"), "e2e", "success")
    facts = CheckReader(forge, Clock()).read(POLICY, overlays(), {("app03", "prod"): NEW}, "main")
    before = Snapshot(base_branch="main", base_commit="c0", overlays=overlays())
    after = replace(before, checks=facts)
    replanner = Replanner()
    replanner.plan(POLICY, before, NOW)
    made = replanner.plan(POLICY, after, NOW)
    assert made == plan(POLICY, after, NOW)
    assert replanner.apps_planned == 1  # only the app whose checks changed
    assert not any(b.app == "app03" for b in made.blocked), made.blocked
    moved = dict(overlays())
    moved[("app03", "staging")] = replace(moved[("app03", "staging")], commit="f" * 40)
    stale = replace(after, overlays=moved)
    (blocked,) = [b for b in plan(POLICY, stale, NOW).blocked if b.app == "app03"]
    assert blocked.code == "gate:checks-pending"
    assert "have not been read yet" in blocked.reason


SOURCE_POLICY = load_policy(
    b"""version = 1
[registry]
kind = "oci"
[apps.shop]
image = "reg.example.com/team/shop"
[environments.staging]
overlay = "overlays/staging"
[environments.prod]
follows = "staging"
overlay = "overlays/prod"
auto_merge = true
gates = ["app-ci"]
[gates.app-ci]
kind = "checks"
commit = "source"
checks = ["build"]
"""
).policy
REVISION = "c" * 40
SOURCE = "https://github.com/acme/shop"


def shop() -> dict[tuple[str, str], OverlayState]:
    return {
        ("shop", env): OverlayState(
            path=f"overlays/{env}/kustomization.yaml",
            pin=ImagePin("reg.example.com/team/shop", "", digest),
            commit=f"c-{env}",
        )
        for env, digest in (("staging", NEW), ("prod", OLD))
    }


def test_the_source_revision_is_read_from_the_labels_once_and_its_checks_asked() -> None:
    assert SOURCE_POLICY is not None
    registry, forge = FakeRegistry(), FakeForge()
    labels = {
        "org.opencontainers.image.revision": REVISION,
        "org.opencontainers.image.source": SOURCE,
    }
    digest = registry.push_image("reg.example.com/team/shop", None, "shop", labels)
    forge.set_status(REVISION, "build", "success", repository=SOURCE)
    forge.set_status(REVISION, "build", "failure")  # the config repo's: another repository
    reader = CheckReader(forge, Clock())
    overlays = shop()
    overlays[("shop", "staging")] = replace(
        overlays[("shop", "staging")], pin=ImagePin("reg.example.com/team/shop", "", digest)
    )
    offered = {("shop", "prod"): digest}

    facts = reader.read(SOURCE_POLICY, overlays, offered, "main", registry)
    (fact,) = facts.values()
    assert (fact.commit, fact.repository, fact.error) == (REVISION, SOURCE, None)
    proven = {("reg.example.com/team/shop", digest): DigestFact(exists=True)}
    snap = Snapshot(
        base_branch="main", base_commit="c0", overlays=overlays, checks=facts, digests=proven
    )
    made = plan(SOURCE_POLICY, snap, NOW)
    assert not made.blocked, made.blocked
    assert [type(a).__name__ for a in made.actions] == ["Propose"]
    failing = replace(snap, checks={})
    (blocked,) = plan(SOURCE_POLICY, failing, NOW).blocked
    assert blocked.code == "gate:checks-pending"
    reader.read(SOURCE_POLICY, overlays, offered, "main", registry)
    assert [c for c in registry.calls if c[0] == "labels"] == [
        ("labels", "reg.example.com/team/shop", digest)
    ]


def test_an_image_without_labels_blocks_with_what_is_missing() -> None:
    assert SOURCE_POLICY is not None
    registry, forge = FakeRegistry(), FakeForge()
    digest = registry.push_image("reg.example.com/team/shop", None, "shop", {})
    overlays = shop()
    overlays[("shop", "staging")] = replace(
        overlays[("shop", "staging")], pin=ImagePin("reg.example.com/team/shop", "", digest)
    )
    facts = CheckReader(forge, Clock()).read(
        SOURCE_POLICY, overlays, {("shop", "prod"): digest}, "main", registry
    )
    snap = Snapshot(base_branch="main", base_commit="c0", overlays=overlays, checks=facts)
    (blocked,) = plan(SOURCE_POLICY, snap, NOW).blocked
    assert blocked.code == "gate:unknown"
    assert (
        "has no org.opencontainers.image.revision or org.opencontainers.image.source label"
        in blocked.reason
    )
    assert forge.checks_read == []
