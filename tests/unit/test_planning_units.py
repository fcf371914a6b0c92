"""Planning an app of two images, one unit: what moves, what blocks, and what runs where.

Every case also runs through the replanner (as tests/unit/test_planning.py's do): one that
planned the base snapshot an hour earlier and makes again only what differs gives the same
plan.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from reconciler import codeowners, promotions, units
from reconciler.actions import Action, CommitDirect, Merge, MoveTag, Plan, Propose
from reconciler.forge.port import Enforcement
from reconciler.gates import PinFact, Sample
from reconciler.overlays.imageref import ImagePin
from reconciler.planning import plan as whole_plan
from reconciler.planning.replanner import Replanner
from reconciler.policy import Policy, load_policy
from reconciler.snapshot import (
    DigestFact,
    LiveState,
    OverlayState,
    RequestState,
    Snapshot,
    TagFact,
)
from tests.unit.test_planning import approve, request

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
API, MIGRATE = "reg.example.com/team/ledger", "reg.example.com/team/ledger-migrations"
A1, A2, M1, M2 = ("sha256:" + c * 64 for c in "abcd")
OLD = {"api": A1, "migrate": M1}
NEW = {"api": A2, "migrate": M2}

POLICY = f"""\
version = 1
[apps.ledger.images.api]
image = "{API}"
[apps.ledger.images.migrate]
image = "{MIGRATE}"
[environments.dev]
overlay = "overlays/dev"
[environments.staging]
follows = "dev"
overlay = "overlays/staging"
auto_merge = true
gates = ["health"]
[environments.prod]
follows = "staging"
overlay = "overlays/prod"
gates = ["soak"]
[gates.health]
kind = "http"
url = "http://{{env}}.{{app}}.test/healthz"
[gates.soak]
kind = "soak"
duration = "10m"
[live.dev]
kind = "http"
url = "http://{{env}}.{{app}}.test/version"
"""
REGISTRY = '[registry]\nkind = "oci"\n'


def policy(text: str = POLICY) -> Policy:
    result = load_policy(text.encode())
    assert result.policy is not None, result.diagnostics
    return result.policy


def pin(digests: dict[str, str], *, tags: dict[str, str] | None = None) -> ImagePin:
    """What an overlay pins for the unit: each part of ``digests`` ("" for a tag only)."""
    repos = {"api": API, "migrate": MIGRATE}
    parts = tuple(
        (name, ImagePin(repos[name], (tags or {}).get(name, ""), digest))
        for name, digest in sorted(digests.items())
    )
    complete = len(parts) == 2
    return ImagePin("", "", units.key(digests) if complete else "", parts)


def overlay(
    env: str, digests: dict[str, str], at: datetime = NOW - timedelta(hours=1)
) -> OverlayState:
    made = pin(digests)
    history = (PinFact("c-" + env, at, made.digest, by_reconciler=False),) if made.digest else ()
    return OverlayState(
        path=f"overlays/{env}/kustomization.yaml",
        pin=made,
        commit="c-" + env,
        changed_at=at,
        history=history,
    )


def health(key: str) -> tuple[Sample, ...]:
    return (
        Sample(
            gate="health",
            app="ledger",
            env="dev",
            taken_at=NOW - timedelta(minutes=1),
            ok=True,
            detail="status 200",
            live_digest=key,
        ),
    )


def snapshot(**overrides: object) -> Snapshot:
    base = Snapshot(
        base_branch="main",
        base_commit="base",
        overlays=MappingProxyType(
            {
                ("ledger", "dev"): overlay("dev", NEW),
                ("ledger", "staging"): overlay("staging", OLD),
                ("ledger", "prod"): overlay("prod", OLD),
            }
        ),
        live=MappingProxyType(
            {("ledger", "dev"): LiveState(units.key(NEW), NOW - timedelta(hours=1))}
        ),
        samples=health(units.key(NEW)),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def plan(policy: Policy, snap: Snapshot, now: datetime = NOW) -> Plan:
    made = whole_plan(policy, snap, now)
    replanner = Replanner()
    replanner.plan(policy, snapshot(), now - timedelta(hours=1))
    assert replanner.plan(policy, snap, now) == made
    return made


def staging(result: Plan) -> tuple[list[Action], list[tuple[str, str]]]:
    actions = [a for a in result.actions if a.env == "staging"]
    return actions, [(b.code, b.reason) for b in result.blocked if b.env == "staging"]


def test_the_whole_set_the_source_pins_is_proposed_in_one_request() -> None:
    (action,), blocked = staging(plan(policy(), snapshot()))
    assert blocked == []
    assert isinstance(action, Propose)
    key = units.key(NEW)
    assert action.pin == pin(NEW)
    assert promotions.parse_marker(action.body) == promotions.Marker(
        "ledger", "staging", "dev", key, "c-dev"
    )
    assert dict(action.trailers)["Image-Digest"] == key
    assert action.title == f"staging: promote ledger api={A2[:15]},migrate={M2[:15]} from dev"
    for part, digest in NEW.items():
        assert f"  - {part}: `" in action.body
        assert digest in action.body


def test_one_part_changed_carries_the_others_as_the_source_pins_them() -> None:
    partial = {"api": A2, "migrate": M1}  # CI rebuilt the api only
    snap = snapshot(
        overlays={
            ("ledger", "dev"): overlay("dev", partial),
            ("ledger", "staging"): overlay("staging", OLD),
            ("ledger", "prod"): overlay("prod", OLD),
        },
        live={("ledger", "dev"): LiveState(units.key(partial), NOW - timedelta(hours=1))},
        samples=health(units.key(partial)),
    )
    (action,), _ = staging(plan(policy(), snap))
    assert isinstance(action, Propose)
    assert action.pin == pin(partial)


BLOCKS = [
    ("a part missing in the source", {"api": A2}, "unit-incomplete", "pins no migrate"),
    (
        "a part pinned by tag only",
        {"api": A2, "migrate": ""},
        "unit-incomplete",
        "pins migrate by tag only",
    ),
]


@pytest.mark.parametrize(
    ("source", "code", "says"), [b[1:] for b in BLOCKS], ids=[b[0] for b in BLOCKS]
)
def test_an_incomplete_source_moves_nothing(source: dict[str, str], code: str, says: str) -> None:
    overlays = {
        ("ledger", "dev"): replace(overlay("dev", NEW), pin=pin(source, tags={"migrate": "v2"})),
        ("ledger", "staging"): overlay("staging", OLD),
        ("ledger", "prod"): overlay("prod", OLD),
    }
    actions, blocked = staging(plan(policy(), snapshot(overlays=overlays)))
    assert actions == []
    ((got, reason),) = blocked
    assert got == code
    assert says in reason


LIVE = [
    ("every part runs its digest", NEW, None),
    ("one part still runs the old one", {"api": A2, "migrate": M1}, "gate:not-live"),
]


@pytest.mark.parametrize(("running", "code"), [c[1:] for c in LIVE], ids=[c[0] for c in LIVE])
def test_the_set_is_live_only_when_every_part_runs_its_digest(
    running: dict[str, str], code: str | None
) -> None:
    key = units.key(running)
    snap = snapshot(
        live={("ledger", "dev"): LiveState(key, NOW - timedelta(hours=1))},
        samples=health(key),
    )
    _, blocked = staging(plan(policy(), snap))
    assert [c for c, _ in blocked] == ([code] if code else [])


def test_soak_counts_from_when_the_whole_set_was_pinned() -> None:
    key = units.key(NEW)
    overlays = {
        ("ledger", "dev"): overlay("dev", NEW),
        ("ledger", "staging"): overlay("staging", NEW, at=NOW - timedelta(minutes=4)),
        ("ledger", "prod"): overlay("prod", OLD),
    }
    result = plan(policy(), snapshot(overlays=overlays, samples=health(key)))
    (blocked,) = [b for b in result.blocked if b.env == "prod"]
    assert (blocked.code, blocked.until) == ("gate:soaking", NOW + timedelta(minutes=6))


def test_commit_mode_pins_every_part() -> None:
    text = POLICY.replace('auto_merge = true\ngates = ["health"]', 'mode = "commit"')
    (action,), _ = staging(plan(policy(text), snapshot()))
    assert isinstance(action, CommitDirect)
    assert action.pin == pin(NEW)


def test_the_registry_proves_every_part() -> None:
    both = {
        (API, A2): DigestFact(exists=True),
        (MIGRATE, M2): DigestFact(exists=True),
    }
    (action,), _ = staging(plan(policy(POLICY + REGISTRY), snapshot(digests=both)))
    assert isinstance(action, Propose)
    one = {**both, (MIGRATE, M2): DigestFact(exists=False)}
    actions, blocked = staging(plan(policy(POLICY + REGISTRY), snapshot(digests=one)))
    assert actions == []
    assert [(code, MIGRATE in reason) for code, reason in blocked] == [("unknown-digest", True)]


def test_each_parts_registry_tag_follows_what_the_environment_pins() -> None:
    text = (
        POLICY.replace('gates = ["soak"]', 'gates = ["soak"]\nregistry_tag = "production"')
        + REGISTRY
    )
    overlays = {("ledger", e): overlay(e, NEW) for e in ("dev", "staging", "prod")}
    tags = {(API, "production"): TagFact(A1), (MIGRATE, "production"): TagFact(M2)}
    result = plan(policy(text), snapshot(overlays=overlays, tags=tags))
    assert result.actions == (
        MoveTag(app="ledger", env="prod", repository=API, digest=A2, tag="production"),
    )


# The migrations part pinned in a sub-kustomization of each overlay, owned by other people
# than the overlay: the request asks both, and merges only once each file's owner approved.
FILES_POLICY = POLICY.replace(
    f'image = "{MIGRATE}"\n', f'image = "{MIGRATE}"\noverlay = "jobs"\n'
).replace('gates = ["soak"]\n', "require_codeowners = true\nmerge_when_approved = true\n")
FILES_OWNERS = codeowners.parse(
    "/overlays/prod/ @alice\n/overlays/prod/jobs/ @dba\n", ".github/CODEOWNERS"
)
PROD_FILES = ("overlays/prod/kustomization.yaml", "overlays/prod/jobs/kustomization.yaml")


def files_snapshot(request: RequestState | None = None) -> Snapshot:
    prod = replace(
        overlay("prod", OLD),
        part_files=((PROD_FILES[0], ("api",)), (PROD_FILES[1], ("migrate",))),
    )
    return snapshot(
        overlays=MappingProxyType(
            {
                ("ledger", "dev"): overlay("dev", NEW),
                ("ledger", "staging"): overlay("staging", NEW),
                ("ledger", "prod"): prod,
            }
        ),
        codeowners=FILES_OWNERS,
        enforcement=Enforcement(enforced=True, reason="code owner review required"),
        requests=MappingProxyType({("ledger", "prod"): request} if request else {}),
    )


def prod_request(*approvers: str) -> RequestState:
    made = promotions.Marker("ledger", "prod", "staging", units.key(NEW), "c-staging")
    reviews = tuple(approve(who, minutes_ago=5) for who in approvers)
    return request(
        marker=made, files=PROD_FILES, number=9, reviews=reviews, asked=("@alice", "@dba")
    )


def test_a_request_editing_a_parts_own_file_asks_every_files_owners() -> None:
    made = plan(policy(FILES_POLICY), files_snapshot())
    (action,) = [a for a in made.actions if a.env == "prod"]
    assert isinstance(action, Propose)
    assert (action.path, action.files) == (PROD_FILES[0], PROD_FILES)
    assert action.reviewers == ("@alice", "@dba")
    assert f"- overlays: `{PROD_FILES[0]}`, `{PROD_FILES[1]}`" in action.body


OWNER_ROWS = [
    ("no approval", (), f"code owner of {PROD_FILES[0]}: @alice; and of {PROD_FILES[1]}: @dba"),
    ("the overlay's owner only", ("@alice",), f"code owner of {PROD_FILES[1]}: @dba ("),
    ("the part file's owner only", ("@dba",), f"code owner of {PROD_FILES[0]}: @alice ("),
    ("both", ("@alice", "@dba"), None),
]


@pytest.mark.parametrize(
    ("approvers", "waits"), [r[1:] for r in OWNER_ROWS], ids=[r[0] for r in OWNER_ROWS]
)
def test_a_request_editing_several_files_merges_once_each_files_owner_approved(
    approvers: tuple[str, ...], waits: str | None
) -> None:
    made = plan(policy(FILES_POLICY), files_snapshot(prod_request(*approvers)))
    actions = [a for a in made.actions if a.env == "prod"]
    blocked = [(b.code, b.reason) for b in made.blocked if b.env == "prod"]
    if waits is None:
        (merge,) = actions
        assert isinstance(merge, Merge)
        assert merge.approvers == ("@alice", "@dba")
        assert blocked == []
    else:
        assert not [a for a in actions if isinstance(a, Merge)]
        ((code, reason),) = blocked
        assert code == "awaiting-review"
        assert waits in reason
