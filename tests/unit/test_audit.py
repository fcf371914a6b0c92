"""The audit trail from literal request records and commits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reconciler import promotions
from reconciler.audit import Rollback, trail
from reconciler.forge.port import Review
from reconciler.forge.records import RequestRecord
from reconciler.gitrepo.port import CommitInfo, Signature
from reconciler.gitrepo.trailers import Trailer

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
D = "sha256:" + "d" * 64
BOT = Signature("reconciler", "r@example.com", T0)


def record(number: int, env: str, source: str, state: str, **extra: object) -> RequestRecord:
    marker = promotions.Marker("gw", env, source, D, "c0")
    base = {
        "number": number,
        "head_branch": promotions.branch(env, "gw"),
        "base_branch": "main",
        "title": promotions.title(marker),
        "body": promotions.body(marker, "p", "r", "e", ()),
        "author": "@reconciler",
        "labels": (),
        "state": state,
        "created_at": T0 + timedelta(minutes=number),
        "updated_at": T0,
    }
    return RequestRecord(**{**base, **extra})  # type: ignore[arg-type]


def commit(cid: str, at: datetime, trailers: list[tuple[str, str]]) -> CommitInfo:
    sig = Signature("reconciler", "r@example.com", at)
    return CommitInfo(cid, (), sig, sig, "m", tuple(Trailer(k, v) for k, v in trailers))


def test_requests_and_direct_commits_in_order() -> None:
    merged = record(
        2,
        "prod",
        "staging",
        "merged",
        head_commit="h2",
        merged_commit="m2",
        merged_at=T0 + timedelta(hours=1),
        live_at=T0 + timedelta(hours=2),
        reviews=(
            Review(
                reviewer="@mallory", state="approved", commit="h2", at=T0 + timedelta(minutes=30)
            ),
            Review(
                reviewer="@asha", state="approved", commit="h1", at=T0 + timedelta(minutes=20)
            ),  # an older head
            Review(reviewer="@asha", state="approved", commit="h2", at=T0 + timedelta(minutes=40)),
        ),
    )
    closed = record(1, "staging", "dev", "closed", head_commit="h1")
    commits = [
        commit(
            "m2",
            T0 + timedelta(hours=1),
            [
                ("Promoted-From", "staging"),
                ("Image-Digest", D),
                ("Promotion-App", "gw"),
                ("Promotion-Env", "prod"),
                ("Promotion-Request", "2"),
                ("Reviewed-by", "@asha"),
            ],
        ),
        commit(
            "c3",
            T0 - timedelta(hours=1),
            [
                ("Promoted-From", "dev"),
                ("Image-Digest", D),
                ("Promotion-App", "gw"),
                ("Promotion-Env", "qa"),
            ],
        ),
        commit("x", T0, [("Signed-off-by", "someone")]),
    ]
    entries = trail([merged, closed], commits)
    assert [(e.env, e.state, e.request) for e in entries] == [
        ("qa", "committed", None),
        ("staging", "closed", 1),
        ("prod", "merged", 2),
    ]
    prod = entries[-1]
    assert [who for who, _ in prod.approvals] == ["@mallory", "@asha"]
    assert prod.counted == ("@asha",)
    assert (prod.merged_at, prod.live_at, prod.commit) == (
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=2),
        "m2",
    )


def review(who: str, state: str, head: str, minutes: int, comment: str = "") -> Review:
    at = T0 + timedelta(minutes=minutes)
    return Review(reviewer=who, state=state, commit=head, at=at, comment=comment)  # type: ignore[arg-type]


MERGED = {
    "state": "merged",
    "head_commit": "h2",
    "merged_commit": "m2",
    "merged_at": T0 + timedelta(hours=1),
}
SUPERSEDED = (
    review("@asha", "approved", "h1", 20, "fine by me"),
    review("@bob", "changes_requested", "h1", 25, "wrong tag"),
    review("@asha", "approved", "h2", 40),
    review("@carol", "commented", "h2", 45, "watching the soak"),
)


@pytest.mark.parametrize(
    ("extra", "tips", "reviews", "approvals", "inferred"),
    [
        pytest.param(
            {**MERGED, "reviews": SUPERSEDED, "live_at": T0 + timedelta(hours=2)},
            None,
            [
                ("@asha", "approved", True, "fine by me"),
                ("@bob", "changes_requested", True, "wrong tag"),
                ("@asha", "approved", False, ""),
                ("@carol", "commented", False, "watching the soak"),
            ],
            ["@asha"],
            False,
            id="merged: every review kept, the superseded head's marked",
        ),
        pytest.param(
            {**MERGED, "live_at": MERGED["merged_at"], "live_inferred": True},
            None,
            [],
            [],
            True,
            id="merged: live time inferred from the merge",
        ),
        pytest.param(
            {"state": "open", "reviews": SUPERSEDED[:1] + SUPERSEDED[2:3]},
            {promotions.branch("prod", "gw"): "h2"},
            [("@asha", "approved", True, "fine by me"), ("@asha", "approved", False, "")],
            ["@asha"],
            False,
            id="open: the branch tip is the current head",
        ),
        pytest.param(
            {"state": "open", "reviews": SUPERSEDED[:1]},
            None,
            [("@asha", "approved", False, "fine by me")],
            ["@asha"],
            False,
            id="open without a known tip: nothing is called superseded",
        ),
    ],
)
def test_every_review_is_kept_with_its_head(
    extra: dict[str, object],
    tips: dict[str, str] | None,
    reviews: list[tuple[str, str, bool, str]],
    approvals: list[str],
    inferred: bool,
) -> None:
    (entry,) = trail([record(2, "prod", "staging", **extra)], [], tips)  # type: ignore[arg-type]

    assert [(r.reviewer, r.state, r.superseded, r.comment) for r in entry.reviews] == reviews
    assert [who for who, _ in entry.approvals] == approvals
    assert entry.live_inferred is inferred


def test_a_direct_commit_has_no_reviews_and_nothing_inferred() -> None:
    trailers = [
        ("Promoted-From", "dev"),
        ("Image-Digest", D),
        ("Promotion-App", "gw"),
        ("Promotion-Env", "qa"),
    ]
    (entry,) = trail([], [commit("c3", T0, trailers)])

    assert (entry.state, entry.reviews, entry.approvals, entry.live_inferred) == (
        "committed",
        (),
        (),
        False,
    )


def test_rollbacks_say_what_they_replaced_why_and_who() -> None:
    old = "sha256:" + "a" * 64
    marker = promotions.Marker("gw", "prod", "staging", old, "", "rollback", D, "5xx", "@carol")
    requested = record(3, "prod", "staging", "open", body=promotions.body(marker, "p", "r", "", ()))
    _, trailers = promotions.commit_message(
        replace(marker, env="staging", reason="slow"), evidence_trailer=""
    )
    committed = commit("c4", T0 + timedelta(hours=3), [(t.key, t.value) for t in trailers])
    forward = commit("c5", T0 + timedelta(hours=4), [("Image-Digest", D)])  # no trailer set
    entries = trail([requested], [committed, forward])
    assert [(e.kind, e.env, e.state, e.digest) for e in entries] == [
        ("rollback", "prod", "open", old),
        ("rollback", "staging", "committed", old),
    ]
    assert [e.rollback for e in entries] == [
        Rollback(D, "5xx", "@carol"),
        Rollback(D, "slow", "@carol"),
    ]
