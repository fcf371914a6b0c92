"""When a recorded sighting replaces a process's own: only when it is earlier and the overlay
has pinned the digest, unbroken, since before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.gates import PinFact
from reconciler.livetimes import with_record
from reconciler.overlays.imageref import ImagePin
from reconciler.snapshot import LiveState, OverlayState

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OLD, NEW = ("sha256:" + c * 64 for c in "ab")
SEEN_NOW = LiveState(NEW, NOW, sighted=True)


def overlay(*history: tuple[str, int]) -> OverlayState:
    """Pins the last digest of ``history`` ((digest, minutes ago) pairs, oldest first)."""
    facts = tuple(
        PinFact(f"c{i}", NOW - timedelta(minutes=m), d, by_reconciler=True)
        for i, (d, m) in enumerate(history)
    )
    return OverlayState(
        path="overlays/staging/kustomization.yaml",
        pin=ImagePin("reg.example/app", "", history[-1][0]),
        changed_at=facts[-1].committed_at,
        history=facts,
    )


def minutes_ago(m: int) -> datetime:
    return NOW - timedelta(minutes=m)


CASES = [
    # (what, live state, overlay, record, the since that results)
    (
        "a record after the pin began counts",
        SEEN_NOW,
        overlay((NEW, 30)),
        minutes_ago(20),
        minutes_ago(20),
    ),
    ("no record: the sighting stays", SEEN_NOW, overlay((NEW, 30)), None, NOW),
    (
        "a record from before the pin began is of an earlier run",
        SEEN_NOW,
        overlay((NEW, 30)),
        minutes_ago(40),
        NOW,
    ),
    (
        "rolled back and pinned again: the clock starts over",
        SEEN_NOW,
        overlay((NEW, 60), (OLD, 45), (NEW, 10)),
        minutes_ago(50),
        NOW,
    ),
    ("the overlay pins another digest", SEEN_NOW, overlay((OLD, 30)), minutes_ago(20), NOW),
    (
        "a source that tells its own start time is left alone",
        LiveState(NEW, minutes_ago(5)),
        overlay((NEW, 30)),
        minutes_ago(20),
        minutes_ago(5),
    ),
    (
        "a rollout in progress is left alone",
        LiveState(NEW, NOW, rolling=True, sighted=True),
        overlay((NEW, 30)),
        minutes_ago(20),
        NOW,
    ),
    (
        "a later record changes nothing",
        LiveState(NEW, minutes_ago(25), sighted=True),
        overlay((NEW, 30)),
        minutes_ago(20),
        minutes_ago(25),
    ),
]


@pytest.mark.parametrize(
    ("state", "pinned", "record", "since"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_record_replaces_a_sighting_only_when_it_is_proven(
    state: LiveState, pinned: OverlayState, record: datetime | None, since: datetime
) -> None:
    assert with_record(state, pinned, record).since == since
