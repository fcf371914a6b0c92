"""Planning over literal snapshots: every action and every reason a promotion is blocked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from reconciler import codeowners, promotions
from reconciler.actions import (
    Action,
    AddLabels,
    Blocked,
    Close,
    CommitDirect,
    Merge,
    MoveTag,
    Plan,
    Propose,
    RecordLive,
    RecordRollback,
    RequestReviews,
)
from reconciler.forge.port import Enforcement, Request, Review
from reconciler.gates import PinFact, Sample
from reconciler.overlays.imageref import ImagePin
from reconciler.planning import plan as whole_plan
from reconciler.planning.replanner import Replanner
from reconciler.policy import Policy, load_policy
from reconciler.reasons import BlockedCode
from reconciler.snapshot import (
    ApplicationStatus,
    DigestFact,
    LiveState,
    OverlayState,
    RequestState,
    Snapshot,
    TagFact,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
OLD, NEW, NEWER = ("sha256:" + c * 64 for c in "abc")
REPO = "reg.example.com/team/gw"

POLICY = """\
version = 1
[apps.gw]
image = "reg.example.com/team/gw"
[environments.dev]
overlay = "overlays/dev"
[environments.staging]
follows = "dev"
overlay = "overlays/staging"
auto_merge = true
gates = ["soak"]
[environments.prod]
follows = "staging"
overlay = "overlays/prod"
require_codeowners = true
merge_when_approved = true
merge_delay = "5m"
gates = ["health"]
[gates.soak]
kind = "soak"
duration = "10m"
[gates.health]
kind = "http"
url = "http://{env}.{app}.test/healthz"
successes = 2
[live.staging]
kind = "http"
url = "http://{env}.{app}.test/version"
"""


def policy(text: str = POLICY) -> Policy:
    result = load_policy(text.encode())
    assert result.policy is not None, result.diagnostics
    return result.policy


def overlay(
    env: str,
    digest: str | None,
    *,
    at: datetime = NOW - timedelta(hours=1),
    tag: str = "",
    by_reconciler: bool = False,
) -> OverlayState:
    history = (PinFact("c-" + env, at, digest, by_reconciler),) if digest else ()
    pin = ImagePin(REPO, tag, digest or "") if (digest or tag) else None
    return OverlayState(
        path=f"overlays/{env}/kustomization.yaml",
        pin=pin,
        commit="c-" + env,
        changed_at=at,
        history=history,
    )


OWNERS = codeowners.parse("/overlays/prod/ @alice @org/release\n", ".github/CODEOWNERS")
ENFORCED = Enforcement(enforced=True, reason="branch protection requires code owner review")


def samples(digest: str, count: int, ok: bool = True) -> tuple[Sample, ...]:
    return tuple(
        Sample(
            gate="health",
            app="gw",
            env="staging",
            taken_at=NOW - timedelta(minutes=count - i),
            ok=ok,
            detail="status 200",
            live_digest=digest,
        )
        for i in range(count)
    )


def snapshot(**overrides: object) -> Snapshot:
    base = Snapshot(
        base_branch="main",
        base_commit="base",
        overlays=MappingProxyType(
            {
                ("gw", "dev"): overlay("dev", NEW),
                ("gw", "staging"): overlay("staging", NEW),
                ("gw", "prod"): overlay("prod", OLD),
            }
        ),
        live=MappingProxyType({("gw", "staging"): LiveState(NEW, NOW - timedelta(hours=1))}),
        samples=samples(NEW, 2),
        codeowners=OWNERS,
        enforcement=ENFORCED,
        teams={"@org/release": frozenset({"@bob"})},
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def plan(policy: Policy, snap: Snapshot, now: datetime) -> Plan:
    """The whole plan; every case also checks that a replanner which planned the base
    snapshot an hour earlier, making again only what differs, gives the same plan."""
    made = whole_plan(policy, snap, now)
    replanner = Replanner()
    replanner.plan(policy, snapshot(), now - timedelta(hours=1))
    assert replanner.plan(policy, snap, now) == made
    return made


def request(
    digest: str = "",
    *,
    marker: promotions.Marker | None = None,
    files: str | tuple[str, ...] = "p",
    number: int = 7,
    reviews: tuple[Review, ...] = (),
    labels: tuple[str, ...] = ("promotion",),  # as the daemon opened it
    head: str = "head-1",
    env: str = "prod",
    source: str = "staging",
    asked: tuple[str, ...] = ("@alice", "@org/release"),
    **state: Any,
) -> RequestState:
    """The daemon's open request for ``marker`` (else gw's promotion of ``digest`` from
    ``source`` into ``env``), naming ``files`` in its body; ``state``: RequestState's."""
    made = marker or promotions.Marker("gw", env, source, digest, "c-" + source)
    return RequestState(
        Request(
            number=number,
            head_branch=promotions.branch(made.env, made.app),
            head_commit=head,
            base_branch="main",
            title=promotions.title(made),
            body=promotions.body(made, files, "r", "e", ()),
            author="@reconciler",
            labels=labels,
            state="open",
            created_at=NOW - timedelta(hours=1),
            updated_at=NOW - timedelta(minutes=30),
            reviews=reviews,
            requested_reviewers=asked if made.env == "prod" else (),
        ),
        **state,
    )


def approve(who: str, head: str = "head-1", minutes_ago: int = 10) -> Review:
    return Review(
        reviewer=who, state="approved", commit=head, at=NOW - timedelta(minutes=minutes_ago)
    )


def prod_only(result: Plan) -> tuple[list[Action], list[tuple[BlockedCode, str]]]:
    actions: list[Action] = [a for a in result.actions if a.env == "prod"]
    blocked = [(b.code, b.reason) for b in result.blocked if b.env == "prod"]
    return actions, blocked


def test_everything_in_sync_plans_nothing() -> None:
    overlays = {("gw", e): overlay(e, NEW) for e in ("dev", "staging", "prod")}
    result = plan(policy(), snapshot(overlays=overlays), NOW)
    assert result.actions == ()
    assert result.blocked == ()


def test_gates_pass_opens_a_prod_request_asking_the_code_owners() -> None:
    result = plan(policy(), snapshot(), NOW)
    (action,), blocked = prod_only(result)
    assert blocked == []
    assert isinstance(action, Propose)
    assert (action.number, action.reviewers, action.pin) == (
        None,
        ("@alice", "@org/release"),
        ImagePin(REPO, "", NEW),
    )
    assert action.title == f"prod: promote gw {NEW[:15]} from staging"
    assert promotions.parse_marker(action.body) == promotions.Marker(
        "gw", "prod", "staging", NEW, "c-staging"
    )
    assert dict(action.trailers)["Image-Digest"] == NEW
    assert dict(action.trailers)["Promoted-From"] == "staging"
    assert "health=pass" in dict(action.trailers)["Gate-Evidence"]


BLOCKED_CASES = [
    (
        "source pins no image",
        {
            "overlays": {
                ("gw", "staging"): overlay("staging", None),
                ("gw", "prod"): overlay("prod", OLD),
            }
        },
        "no-pin",
    ),
    (
        "source pins a tag only",
        {
            "overlays": {
                ("gw", "staging"): overlay("staging", None, tag="v2"),
                ("gw", "prod"): overlay("prod", OLD),
            }
        },
        "tag-only",
    ),
    (
        "unreadable target overlay",
        {
            "overlays": {
                ("gw", "staging"): overlay("staging", NEW),
                ("gw", "prod"): OverlayState(path="p", pin=None, error="p:3:1: invalid YAML"),
            }
        },
        "overlay-invalid",
    ),
    (
        "missing overlay",
        {"overlays": {("gw", "staging"): overlay("staging", NEW)}},
        "overlay-missing",
    ),
    ("one bound sample of two", {"samples": samples(NEW, 1)}, "gate:streak-short"),
    ("samples of the old digest do not count", {"samples": samples(OLD, 5)}, "gate:no-samples"),
    (
        "a failure resets the streak",
        {
            "samples": (
                *samples(NEW, 2),
                Sample(
                    gate="health",
                    app="gw",
                    env="staging",
                    taken_at=NOW,
                    ok=False,
                    detail="503",
                    live_digest=NEW,
                ),
            )
        },
        "gate:failing",
    ),
    ("protection unknown", {"enforcement": None}, "codeowners-not-enforced"),
    (
        "protection off",
        {"enforcement": Enforcement(enforced=False, reason="main is not protected")},
        "codeowners-not-enforced",
    ),
    (
        "CODEOWNERS gap",
        {"codeowners": codeowners.parse("/overlays/staging/ @alice\n")},
        "codeowners-gap",
    ),
    (
        "hold label",
        {"requests": {("gw", "prod"): request(NEW, labels=("promotion-hold",))}},
        "hold",
    ),
    ("waiting for review", {"requests": {("gw", "prod"): request(NEW)}}, "awaiting-review"),
    (
        "non-owner approval",
        {"requests": {("gw", "prod"): request(NEW, reviews=(approve("@mallory"),))}},
        "awaiting-review",
    ),
    (
        "owner approval on an older head",
        {"requests": {("gw", "prod"): request(NEW, reviews=(approve("@alice", head="head-0"),))}},
        "awaiting-review",
    ),
    (
        "approval by the author",
        {"requests": {("gw", "prod"): request(NEW, reviews=(approve("@reconciler"),))}},
        "awaiting-review",
    ),
    (
        "approval withdrawn",
        {
            "requests": {
                ("gw", "prod"): request(
                    NEW,
                    reviews=(
                        approve("@alice", minutes_ago=20),
                        Review(
                            reviewer="@alice",
                            state="changes_requested",
                            commit="head-1",
                            at=NOW - timedelta(minutes=5),
                        ),
                    ),
                )
            }
        },
        "awaiting-review",
    ),
    (
        "merge delay not over",
        {"requests": {("gw", "prod"): request(NEW, reviews=(approve("@alice", minutes_ago=2),))}},
        "merge-delay",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "code"), [c[1:] for c in BLOCKED_CASES], ids=[c[0] for c in BLOCKED_CASES]
)
def test_blocked(overrides: dict[str, object], code: str) -> None:
    actions, blocked = prod_only(plan(policy(), snapshot(**overrides), NOW))
    assert [b[0] for b in blocked] == [code]
    assert not [a for a in actions if isinstance(a, (Propose, Merge, CommitDirect))]


def test_messages_say_what_to_do() -> None:
    _, blocked = prod_only(
        plan(policy(), snapshot(codeowners=codeowners.parse("/overlays/staging/ @a\n")), NOW)
    )
    assert blocked == [
        (
            "codeowners-gap",
            "overlays/prod/kustomization.yaml has no code owner (CODEOWNERS); add a line such as "
            "/overlays/prod/ @your-team to .github/CODEOWNERS",
        )
    ]
    reviews = (approve("@mallory"),)
    _, blocked = prod_only(
        plan(policy(), snapshot(requests={("gw", "prod"): request(NEW, reviews=reviews)}), NOW)
    )
    assert blocked[0][1] == (
        "request #7 waits for approval from a code owner of overlays/prod/kustomization.yaml: "
        "@alice @org/release (approvals from @mallory do not count: not code owners)"
    )


@pytest.mark.parametrize("who", ["@alice", "@bob"], ids=["user owner", "team member"])
def test_owner_approval_after_the_delay_merges(who: str) -> None:
    state = request(NEW, reviews=(approve(who, minutes_ago=6),))
    (action,), blocked = prod_only(plan(policy(), snapshot(requests={("gw", "prod"): state}), NOW))
    assert blocked == []
    assert isinstance(action, Merge)
    assert action.edit is not None
    assert replace(action, edit=None) == Merge(
        app="gw",
        env="prod",
        number=7,
        expected_head="head-1",
        message=f"{state.request.title} (#7)",
        approvers=(who,),
        owners_required=True,
        hold_label="promotion-hold",
    )
    # The head is proven against exactly the edit the daemon would make.
    assert (action.edit.path, action.edit.pin.digest) == ("overlays/prod/kustomization.yaml", NEW)


@pytest.mark.parametrize("outdated", [False, True])
def test_a_head_the_daemon_did_not_build_is_rebuilt_never_merged(outdated: bool) -> None:
    """An approved request whose head a person rewrote: rebuilt as the daemon's own edit
    (the comment says why), reported as blocked, and no Merge, approvals or not."""
    state = replace(
        request(NEW, reviews=(approve("@alice"),)),
        head_problem="its head head-1 changes base/deploy.yaml; a promotion changes X only",
        outdated=outdated,
    )
    actions, blocked = prod_only(plan(policy(), snapshot(requests={("gw", "prod"): state}), NOW))
    assert [type(a) for a in actions] == [Propose]
    (action,) = actions
    assert isinstance(action, Propose)
    assert action.number == 7
    assert action.expected_head == "head-1"
    assert action.comment is not None
    assert action.comment.startswith("Rebuilt: its head head-1 changes base/deploy.yaml")
    assert [code for code, _ in blocked] == ["unverified-head"]


def test_newer_candidate_updates_the_open_request_and_says_so() -> None:
    overlays = {
        ("gw", "dev"): overlay("dev", NEWER),
        ("gw", "staging"): overlay("staging", NEWER),
        ("gw", "prod"): overlay("prod", OLD),
    }
    state = request(NEW, reviews=(approve("@alice"),))
    result = plan(
        policy(),
        snapshot(
            overlays=overlays,
            live={("gw", "staging"): LiveState(NEWER, NOW - timedelta(hours=1))},
            samples=samples(NEWER, 2),
            requests={("gw", "prod"): state},
        ),
        NOW,
    )
    (action,), _ = prod_only(result)
    assert isinstance(action, Propose)
    assert (action.number, action.expected_head, action.pin.digest) == (7, "head-1", NEWER)
    assert action.comment is not None
    assert "newer candidate" in action.comment


def test_outdated_request_is_rebuilt() -> None:
    state = replace(request(NEW), outdated=True)
    (action,), _ = prod_only(plan(policy(), snapshot(requests={("gw", "prod"): state}), NOW))
    assert isinstance(action, Propose)
    assert action.number == 7
    assert action.comment is not None
    assert action.comment.startswith("Rebuilt on the current base")


def test_request_no_longer_needed_is_closed() -> None:
    overlays = {("gw", e): overlay(e, NEW) for e in ("dev", "staging", "prod")}
    result = plan(
        policy(), snapshot(overlays=overlays, requests={("gw", "prod"): request(NEW)}), NOW
    )
    assert [type(a) for a in result.actions] == [Close]


def test_request_for_an_app_removed_from_the_policy_is_closed() -> None:
    result = plan(policy(), snapshot(requests={("old-app", "prod"): request(NEW)}), NOW)
    closes = [a for a in result.actions if isinstance(a, Close)]
    assert [(c.app, c.number) for c in closes] == [("old-app", 7)]


def test_staging_auto_merges_once_soaked() -> None:
    overlays = {
        ("gw", "dev"): overlay("dev", NEWER, at=NOW - timedelta(minutes=30)),
        ("gw", "staging"): overlay("staging", NEW),
        ("gw", "prod"): overlay("prod", NEW),
    }
    first = plan(policy(), snapshot(overlays=overlays), NOW)
    assert [type(a) for a in first.actions] == [Propose]
    assert first.actions[0].env == "staging"
    second = plan(
        policy(),
        snapshot(
            overlays=overlays,
            requests={("gw", "staging"): request(NEWER, env="staging", source="dev")},
        ),
        NOW,
    )
    assert [type(a) for a in second.actions] == [Merge]


def test_soak_counts_from_the_source_overlay_commit_without_a_live_source() -> None:
    overlays = {
        ("gw", "dev"): overlay("dev", NEWER, at=NOW - timedelta(minutes=3)),
        ("gw", "staging"): overlay("staging", NEW),
        ("gw", "prod"): overlay("prod", NEW),
    }
    result = plan(policy(), snapshot(overlays=overlays), NOW)
    (blocked,) = result.blocked
    assert (blocked.env, blocked.code, blocked.until) == (
        "staging",
        "gate:soaking",
        NOW + timedelta(minutes=7),
    )
    assert any(r.weak_binding for _, _, r in result.gates)


def test_manual_rollback_is_not_undone() -> None:
    history = (
        PinFact("c1", NOW - timedelta(hours=3), NEW, by_reconciler=True),
        PinFact("c2", NOW - timedelta(hours=2), OLD, by_reconciler=False),
    )
    overlays = {
        ("gw", "dev"): overlay("dev", NEW),
        ("gw", "staging"): overlay("staging", NEW),
        ("gw", "prod"): replace(overlay("prod", OLD), history=history),
    }
    actions, blocked = prod_only(plan(policy(), snapshot(overlays=overlays), NOW))
    assert [code for code, _ in blocked] == ["hold"]
    assert "replaced by hand" in blocked[0][1]
    # ... and the forge's audit hears of it (a failed deployment on GitHub)
    assert actions == [
        RecordRollback(app="gw", env="prod", digest=NEW, commit="c2", at=NOW - timedelta(hours=2))
    ]


def test_commit_mode_pushes_directly() -> None:
    text = POLICY.replace('auto_merge = true\ngates = ["soak"]', 'mode = "commit"')
    overlays = {
        ("gw", "dev"): overlay("dev", NEWER),
        ("gw", "staging"): overlay("staging", NEW),
        ("gw", "prod"): overlay("prod", NEW),
    }
    result = plan(policy(text), snapshot(overlays=overlays), NOW)
    (action,) = result.actions
    assert isinstance(action, CommitDirect)
    assert (action.env, action.pin.digest, action.path) == (
        "staging",
        NEWER,
        "overlays/staging/kustomization.yaml",
    )


def test_manual_merge_when_auto_merge_is_off() -> None:
    text = POLICY.replace("auto_merge = true\n", "")
    overlays = {
        ("gw", "dev"): overlay("dev", NEWER, at=NOW - timedelta(hours=1)),
        ("gw", "staging"): overlay("staging", NEW),
        ("gw", "prod"): overlay("prod", NEW),
    }
    state = request(NEWER, env="staging", source="dev")
    result = plan(
        policy(text), snapshot(overlays=overlays, requests={("gw", "staging"): state}), NOW
    )
    assert result.actions == ()
    assert [b.code for b in result.blocked] == ["manual-merge"]


def test_plan_is_deterministic() -> None:
    assert plan(policy(), snapshot(), NOW) == plan(policy(), snapshot(), NOW)


def test_blocked_carries_since_and_until() -> None:
    state = request(NEW, reviews=(approve("@alice", minutes_ago=2),))
    result = plan(policy(), snapshot(requests={("gw", "prod"): state}), NOW)
    (blocked,) = [b for b in result.blocked if b.env == "prod"]
    assert isinstance(blocked, Blocked)
    assert blocked.until == NOW + timedelta(minutes=3)


def test_first_sighting_live_is_recorded_for_the_audit() -> None:
    merged = replace(request(NEW, env="staging", source="dev").request, state="merged")
    overlays = {("gw", e): overlay(e, NEW) for e in ("dev", "staging", "prod")}
    since = NOW - timedelta(minutes=4)
    live = {("gw", "staging"): LiveState(NEW, since)}
    result = plan(
        policy(),
        snapshot(overlays=overlays, live=live, awaiting_live={("gw", "staging"): merged}),
        NOW,
    )
    assert result.actions == (RecordLive("gw", "staging", 7, since),)
    stale = {("gw", "staging"): LiveState(OLD, since)}
    result = plan(
        policy(),
        snapshot(overlays=overlays, live=stale, awaiting_live={("gw", "staging"): merged}),
        NOW,
    )
    assert result.actions == ()


# -- with a registry ------------------------------------------------------------------------

REGISTRY_POLICY = POLICY.replace("[apps.gw]", '[registry]\nkind = "oci"\n\n[apps.gw]').replace(
    "require_codeowners = true\n", 'require_codeowners = true\nregistry_tag = "production"\n'
)
KNOWN = {(REPO, NEW): DigestFact(exists=True)}


def test_registry_proves_the_digest_before_a_request() -> None:
    (action,), blocked = prod_only(plan(policy(REGISTRY_POLICY), snapshot(digests=KNOWN), NOW))
    assert isinstance(action, Propose)
    assert blocked == []


REGISTRY_BLOCKS = [
    (
        "digest unknown to the registry",
        {"digests": {(REPO, NEW): DigestFact(exists=False)}},
        "unknown-digest",
    ),
    (
        "registry unreachable",
        {"digests": {(REPO, NEW): DigestFact(None, "timed out")}},
        "registry-unreachable",
    ),
    ("not asked", {"digests": {}}, "registry-unreachable"),
]


@pytest.mark.parametrize(
    ("overrides", "code"), [c[1:] for c in REGISTRY_BLOCKS], ids=[c[0] for c in REGISTRY_BLOCKS]
)
def test_registry_fails_closed(overrides: dict[str, object], code: str) -> None:
    actions, blocked = prod_only(plan(policy(REGISTRY_POLICY), snapshot(**overrides), NOW))
    assert [b[0] for b in blocked] == [code]
    assert actions == []


def test_a_vanished_digest_blocks_the_merge_too() -> None:
    state = request(NEW, reviews=(approve("@alice", minutes_ago=6),))
    gone = {(REPO, NEW): DigestFact(exists=False)}
    actions, blocked = prod_only(
        plan(policy(REGISTRY_POLICY), snapshot(requests={("gw", "prod"): state}, digests=gone), NOW)
    )
    assert actions == []
    assert [b[0] for b in blocked] == ["unknown-digest"]


def test_tag_only_source_is_resolved_through_the_registry() -> None:
    overlays = {
        ("gw", "dev"): overlay("dev", NEW),
        ("gw", "staging"): overlay("staging", None, tag="v7"),
        ("gw", "prod"): overlay("prod", OLD),
    }
    tags = {(REPO, "v7"): TagFact(NEW), (REPO, "production"): TagFact(OLD)}
    (action,), blocked = prod_only(
        plan(policy(REGISTRY_POLICY), snapshot(overlays=overlays, tags=tags, digests=KNOWN), NOW)
    )
    assert blocked == []
    assert isinstance(action, Propose)
    assert action.pin == ImagePin(REPO, "", NEW)


@pytest.mark.parametrize(
    ("fact", "code"),
    [(TagFact(None), "unknown-tag"), (TagFact(None, "connection refused"), "registry-unreachable")],
)
def test_unresolvable_tag_blocks(fact: TagFact, code: str) -> None:
    overlays = {
        ("gw", "dev"): overlay("dev", NEW),
        ("gw", "staging"): overlay("staging", None, tag="v7"),
        ("gw", "prod"): overlay("prod", OLD),
    }
    _, blocked = prod_only(
        plan(policy(REGISTRY_POLICY), snapshot(overlays=overlays, tags={(REPO, "v7"): fact}), NOW)
    )
    assert [b[0] for b in blocked] == [code]


def test_env_tag_follows_what_the_environment_runs() -> None:
    overlays = {("gw", e): overlay(e, NEW) for e in ("dev", "staging", "prod")}
    moved = plan(
        policy(REGISTRY_POLICY),
        snapshot(overlays=overlays, tags={(REPO, "production"): TagFact(OLD)}),
        NOW,
    )
    assert moved.actions == (
        MoveTag(app="gw", env="prod", repository=REPO, digest=NEW, tag="production"),
    )
    settled = plan(
        policy(REGISTRY_POLICY),
        snapshot(overlays=overlays, tags={(REPO, "production"): TagFact(NEW)}),
        NOW,
    )
    assert settled.actions == ()
    unknown = plan(
        policy(REGISTRY_POLICY),
        snapshot(overlays=overlays, tags={(REPO, "production"): TagFact(None, "503")}),
        NOW,
    )
    assert unknown.actions == ()


def test_owners_not_yet_asked_are_asked() -> None:
    state = request(NEW, asked=("@alice",))
    actions, blocked = prod_only(plan(policy(), snapshot(requests={("gw", "prod"): state}), NOW))
    assert actions == [RequestReviews("gw", "prod", 7, ("@org/release",))]
    assert [b[0] for b in blocked] == ["awaiting-review"]


# GitHub compares logins and team slugs without regard to case, and drops a reviewer from a
# pull's requested reviewers once they review: neither may make the daemon ask again.
@pytest.mark.parametrize(
    ("asked", "reviews", "teams", "expected"),
    [
        (("@ALICE", "@Org/Release"), (), None, ()),
        (("@alice",), (Review(reviewer="@Bob", state="commented", commit="h", at=NOW),), None, ()),
        (("@org/release",), (approve("@Alice", head="old"),), None, ()),
        (("@alice",), (), {"@ORG/release": frozenset({"@bob"})}, ("@org/release",)),
        ((), (approve("@BOB"),), {"@ORG/Release": frozenset({"@bob"})}, ("@alice",)),
    ],
    ids=[
        "asked in another case",
        "a team member reviewed",
        "an owner reviewed an older head",
        "team not asked",
        "team member approved in another case",
    ],
)
def test_owners_are_not_asked_again_because_of_case_or_a_given_review(
    asked: tuple[str, ...],
    reviews: tuple[Review, ...],
    teams: dict[str, frozenset[str]] | None,
    expected: tuple[str, ...],
) -> None:
    state = request(NEW, asked=asked, reviews=reviews)
    snap = snapshot(requests={("gw", "prod"): state}, **({"teams": teams} if teams else {}))
    actions, _ = prod_only(plan(policy(), snap, NOW))
    asks = [a for a in actions if isinstance(a, RequestReviews)]
    assert asks == ([RequestReviews("gw", "prod", 7, expected)] if expected else [])


@pytest.mark.parametrize("who", ["@ALICE", "@Bob"], ids=["user owner", "team member"])
def test_an_approval_counts_whatever_the_case_of_login_or_team(who: str) -> None:
    teams = {"@ORG/Release": frozenset({"@BOB"})}  # as .reconciler/teams.toml may spell it
    state = request(NEW, reviews=(approve(who, minutes_ago=6),))
    snap = snapshot(requests={("gw", "prod"): state}, teams=teams)
    (action,), blocked = prod_only(plan(policy(), snap, NOW))
    assert blocked == []
    assert isinstance(action, Merge)
    assert action.approvers == (who,)


@pytest.mark.parametrize(
    ("labels", "settings", "added"),
    [
        ((), "", ("promotion",)),  # died between opening and labelling
        (("promotion", "team-x"), "", ()),  # a label someone else added stays, asks nothing
        (("promotion",), 'labels = ["promotion", "deploy"]', ("deploy",)),  # added to the policy
        (("deploy",), 'labels = ["promotion", "deploy"]', ("promotion",)),
    ],
)
def test_labels_the_request_lacks_are_added(
    labels: tuple[str, ...], settings: str, added: tuple[str, ...]
) -> None:
    text = POLICY.replace("version = 1\n", f"version = 1\n[settings]\n{settings}\n")
    state = request(NEW, labels=labels)
    actions, _ = prod_only(plan(policy(text), snapshot(requests={("gw", "prod"): state}), NOW))
    assert [a for a in actions if isinstance(a, AddLabels)] == (
        [AddLabels("gw", "prod", 7, added)] if added else []
    )


ARGO_POLICY = (
    POLICY.replace('gates = ["health"]', 'gates = ["synced"]')
    .replace("[gates.soak]", '[gates.synced]\nkind = "argocd"\n\n[gates.soak]')
    .replace(
        '[live.staging]\nkind = "http"\nurl = "http://{env}.{app}.test/version"',
        '[live.staging]\nkind = "argocd"\nserver = "https://argocd.test"',
    )
)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (
            ApplicationStatus(
                application="gw-staging", sync="Synced", health="Healthy", images=(f"{REPO}@{NEW}",)
            ),
            None,
        ),
        (
            ApplicationStatus(
                application="gw-staging",
                sync="OutOfSync",
                health="Healthy",
                images=(f"{REPO}@{NEW}",),
            ),
            "gate:out-of-sync",
        ),
        (
            ApplicationStatus(
                application="gw-staging", sync="Synced", health="Healthy", images=(f"{REPO}@{OLD}",)
            ),
            "gate:not-live",
        ),
        (
            ApplicationStatus(
                application="gw-staging",
                sync="Synced",
                health="Degraded",
                images=(f"{REPO}@{NEW}",),
            ),
            "gate:unhealthy",
        ),
        (None, "gate:unknown"),
        # Only the app's own images count, names compared in their normalised form (issue 18).
        (
            ApplicationStatus(
                application="gw-staging",
                sync="Synced",
                health="Healthy",
                images=(f"{REPO}@{OLD}", f"reg.example.com/team/proxy@{NEW}"),
            ),
            "gate:not-live",
        ),
        (
            ApplicationStatus(
                application="gw-staging",
                sync="Synced",
                health="Healthy",
                images=(f"{REPO}:1.4@{NEW}", f"docker.io/library/nginx@{OLD}"),
            ),
            None,
        ),
    ],
)
def test_argocd_gate(status: ApplicationStatus | None, code: str | None) -> None:
    applications = {("gw", "staging"): status} if status else {}
    actions, blocked = prod_only(
        plan(policy(ARGO_POLICY), snapshot(applications=applications), NOW)
    )
    assert [b[0] for b in blocked] == ([code] if code else [])
    assert bool(actions) == (code is None)


def test_an_approved_prod_request_waits_for_a_person_unless_the_policy_allows() -> None:
    text = POLICY.replace("merge_when_approved = true\n", "")
    state = request(NEW, reviews=(approve("@alice", minutes_ago=6),))
    actions, blocked = prod_only(
        plan(policy(text), snapshot(requests={("gw", "prod"): state}), NOW)
    )
    assert actions == []
    assert blocked == [
        (
            "manual-merge",
            "request #7 is approved by @alice; merge_when_approved is off for prod, so a "
            "person merges it",
        )
    ]


def test_an_error_on_the_owning_codeowners_line_blocks() -> None:
    _, blocked = prod_only(plan(policy(), snapshot(codeowners_errors={1: "Unknown owner"}), NOW))
    assert blocked == [
        (
            "codeowners-error",
            ".github/CODEOWNERS:1, the line that owns overlays/prod/kustomization.yaml, has an "
            "error the forge reports: Unknown owner; fix that line",
        )
    ]
    _, elsewhere = prod_only(plan(policy(), snapshot(codeowners_errors={7: "x"}), NOW))
    assert elsewhere == []


# -- an auto_merge environment whose overlay CODEOWNERS owns (issue 17, item 5) --------------

CATCH_ALL = codeowners.parse(
    "* @org/sre\n/overlays/prod/ @alice @org/release\n", ".github/CODEOWNERS"
)


def staging_request_state(reviews: tuple[Review, ...] = ()) -> dict[str, object]:
    overlays = {
        ("gw", "dev"): overlay("dev", NEWER, at=NOW - timedelta(minutes=30)),
        ("gw", "staging"): overlay("staging", NEW),
        ("gw", "prod"): overlay("prod", NEW),
    }
    state = request(NEWER, env="staging", source="dev", reviews=reviews)
    return {"overlays": overlays, "requests": {("gw", "staging"): state}}


def test_an_owned_auto_merge_overlay_waits_for_an_owner_with_the_fix_never_a_failing_merge() -> (
    None
):
    result = plan(policy(), snapshot(codeowners=CATCH_ALL, **staging_request_state()), NOW)

    assert [a for a in result.actions if a.env == "staging"] == []
    ((code, reason),) = [(b.code, b.reason) for b in result.blocked if b.env == "staging"]
    assert code == "awaiting-review"
    assert reason == (
        "request #7 needs a code owner's approval before the forge lets it merge: "
        "overlays/staging/kustomization.yaml is owned by @org/sre (.github/CODEOWNERS:1) and "
        "branch protection requires code owner review; for staging to merge by itself, add a "
        "line with no owners, /overlays/staging/, below line 1 of .github/CODEOWNERS"
    )


@pytest.mark.parametrize(
    ("overrides", "reviews"),
    [
        ({"codeowners": CATCH_ALL, "enforcement": None}, ()),  # the forge does not require it
        (
            {
                "codeowners": CATCH_ALL,
                "enforcement": Enforcement(enforced=False, reason="bypassable"),
            },
            (),
        ),
        ({"codeowners": codeowners.parse("* @org/sre\n/overlays/staging/\n")}, ()),  # unowned
        (
            {"codeowners": CATCH_ALL, "teams": {"@org/SRE": frozenset({"@carol"})}},
            (approve("@Carol"),),
        ),  # an owner approved: the forge will merge
    ],
    ids=["not enforced", "bypassable", "ownerless line", "owner approved"],
)
def test_an_auto_merge_overlay_merges_when_the_forge_will(
    overrides: dict[str, object], reviews: tuple[Review, ...]
) -> None:
    snap = snapshot(**{**staging_request_state(reviews), **overrides})
    result = plan(policy(), snap, NOW)
    assert [type(a) for a in result.actions if a.env == "staging"] == [Merge]


# -- a team whose members the forge will not list (issue 17, item 4) --------------------------


def test_an_unreadable_owning_team_is_cannot_tell_never_not_a_code_owner() -> None:
    unreadable = {"@org/release": "cannot tell who is in @org/release: give 'Members: read'"}
    state = request(NEW, reviews=(approve("@bob"),))
    snap = snapshot(requests={("gw", "prod"): state}, teams={}, unreadable_teams=unreadable)

    actions, blocked = prod_only(plan(policy(), snap, NOW))

    assert not [a for a in actions if isinstance(a, Merge)]
    assert blocked == [
        (
            "codeowners-team-unreadable",
            "request #7 waits for approval from a code owner of overlays/prod/kustomization.yaml: "
            "@alice @org/release (approvals from @bob may count); cannot tell who is in "
            "@org/release: give 'Members: read'",
        )
    ]
    assert "not code owners" not in blocked[0][1]


@pytest.mark.parametrize(
    "digest", ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "not-a-digest"]
)
def test_a_marker_naming_a_malformed_digest_is_a_damaged_marker(digest: str) -> None:
    """Anyone who can edit a request's body can edit its marker (issue 18: no comparison of
    a malformed digest)."""
    marker = promotions.Marker("gw", "prod", "staging", NEW, "c-staging")
    good = promotions.body(marker, "p", "r", "e", ())
    assert promotions.parse_marker(good) == marker
    assert promotions.parse_marker(good.replace(NEW, digest)) is None


def test_live_time_without_a_live_source_is_the_merge_and_says_it_is_inferred() -> None:
    """Issue 19: where no live source exists, the recorded time is the merge, inferred."""
    merged_at = NOW - timedelta(minutes=9)
    merged = replace(
        request(NEW, env="prod", source="staging").request, state="merged", merged_at=merged_at
    )
    overlays = {("gw", e): overlay(e, NEW) for e in ("dev", "staging", "prod")}
    result = plan(
        policy(), snapshot(overlays=overlays, awaiting_live={("gw", "prod"): merged}), NOW
    )
    recorded = [a for a in result.actions if isinstance(a, RecordLive)]
    assert recorded == [RecordLive("gw", "prod", 7, merged_at, inferred=True)]


UNSAMPLED_CASES = [
    # (what, the prod request, what else blocks besides the unsampled gate)
    ("no request yet: nothing else known", None, []),
    ("a request without approval waits for a code owner", request(NEW), ["awaiting-review"]),
    (
        "an approved request waits out its merge delay",
        request(NEW, reviews=(approve("@alice", minutes_ago=1),)),
        ["merge-delay"],
    ),
    # Approved long enough: it would merge if the gate passed; a view without samples
    # says only that the gate is unknown, and plans no merge.
    ("an approved request past its delay", request(NEW, reviews=(approve("@alice"),)), []),
]


@pytest.mark.parametrize(
    ("held", "others"), [c[1:] for c in UNSAMPLED_CASES], ids=[c[0] for c in UNSAMPLED_CASES]
)
def test_a_view_without_samples_plans_nothing_but_tells_what_else_waits(
    held: RequestState | None, others: list[str]
) -> None:
    requests = {("gw", "prod"): held} if held else {}
    view = snapshot(samples=(), sampled=False, requests=MappingProxyType(requests))
    actions, blocked = prod_only(plan(policy(), view, NOW))
    assert actions == []
    assert [code for code, _ in blocked] == ["gate:not-sampled", *others]
    assert blocked[0][1].startswith("gate health: not sampled by this command (--probe")


def test_a_daemon_without_samples_yet_blocks_on_no_samples() -> None:
    view = snapshot(samples=(), requests=MappingProxyType({("gw", "prod"): request(NEW)}))
    actions, blocked = prod_only(plan(policy(), view, NOW))
    assert actions == []
    assert [code for code, _ in blocked] == ["gate:no-samples"]  # nothing beyond the gate
