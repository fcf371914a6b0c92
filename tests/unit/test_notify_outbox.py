"""The outbox's rules: a new event is claimed once, a claim holds its lease, an expired or
failed claim is taken over for the next round (bounded), confirmations finish entries, a
stopping replica hands its claims back, and old entries are pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.errors import PermanentError
from reconciler.notify import outbox
from reconciler.notify.events import Event
from reconciler.notify.outbox import Entry, Timing

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
TIMING = Timing(lease=timedelta(minutes=10), retry=timedelta(minutes=1))
MERGED = Event(kind="merged", app="shop", env="prod", at=NOW, digest="sha256:" + "2" * 64)
LIVE = Event(kind="live", app="shop", env="prod", at=NOW, digest="sha256:" + "2" * 64)


def step(
    entries: dict[str, Entry],
    events: tuple[Event, ...] = (),
    results: dict[str, outbox.Result] | None = None,
    *,
    me: str = "a",
    at: datetime = NOW,
    room: int = 10,
) -> tuple[dict[str, Entry], list[str]]:
    new, claimed = outbox.advance(
        entries, "ops", events, results or {}, me=me, now=at, timing=TIMING, room=room
    )
    return new, [c.entry.event.id for c in claimed]


def test_a_new_event_is_claimed_once_and_not_again_while_the_lease_holds() -> None:
    entries, claimed = step({}, (MERGED,))
    assert claimed == [MERGED.id]
    assert entries[MERGED.id].state == "claimed"
    assert entries[MERGED.id].by == "a"
    _, again = step(entries, (MERGED,), me="b", at=NOW + timedelta(minutes=9))
    assert again == []


def test_an_expired_claim_is_taken_over_by_whoever_sees_it() -> None:
    entries, _ = step({}, (MERGED,))
    later = NOW + timedelta(minutes=10)
    entries, claimed = step(entries, (), me="b", at=later)
    assert claimed == [MERGED.id]
    assert (entries[MERGED.id].by, entries[MERGED.id].rounds) == ("b", 2)


def test_a_sent_event_is_never_claimed_again() -> None:
    entries, _ = step({}, (MERGED,))
    entries, _ = step(entries, (), {MERGED.id: "sent"})
    assert entries[MERGED.id].state == "sent"
    _, claimed = step(entries, (MERGED,), me="b", at=NOW + timedelta(days=1))
    assert claimed == []


def test_a_failed_round_backs_off_and_the_rounds_are_bounded() -> None:
    entries, _ = step({}, (MERGED,))
    at = NOW
    waits = []
    for _ in range(outbox.MAX_ROUNDS - 1):
        entries, _ = step(entries, (), {MERGED.id: "failed"}, at=at)
        waits.append(entries[MERGED.id].lease_until - at)
        at = entries[MERGED.id].lease_until
        entries, claimed = step(entries, (), at=at)
        assert claimed == [MERGED.id]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    entries, _ = step(entries, (), {MERGED.id: "failed"}, at=at)
    assert entries[MERGED.id].state == "abandoned"


def test_a_rejected_event_is_abandoned_at_once() -> None:
    entries, _ = step({}, (MERGED,))
    entries, _ = step(entries, (), {MERGED.id: "rejected"})
    assert entries[MERGED.id].state == "abandoned"


def test_room_bounds_the_claims_and_the_rest_wait() -> None:
    entries, claimed = step({}, (MERGED, LIVE), room=1)
    assert claimed == [MERGED.id]
    assert LIVE.id not in entries
    _, claimed = step(entries, (MERGED, LIVE), room=1)
    assert claimed == [LIVE.id]


def test_a_stopping_replica_hands_its_claims_back() -> None:
    entries, _ = step({}, (MERGED,))
    others, _ = step({}, (LIVE,), me="b")
    released = outbox.release({**entries, **others}, "a", NOW)
    assert released[MERGED.id].lease_until == NOW
    assert released[LIVE.id] == others[LIVE.id]
    _, claimed = step(released, (), me="c")
    assert claimed == [MERGED.id]


def test_finished_entries_are_pruned_after_retention_unless_still_derived() -> None:
    entries, _ = step({}, (MERGED, LIVE))
    entries, _ = step(entries, (), {MERGED.id: "sent", LIVE.id: "sent"})
    later = NOW + outbox.RETAIN + timedelta(minutes=1)
    kept, _ = outbox.advance(
        entries, "ops", (), {}, me="a", now=later, timing=TIMING, room=0,
        derived=frozenset({LIVE.id}),
    )  # fmt: skip
    assert set(kept) == {LIVE.id}


@pytest.mark.parametrize("results", [{}, {MERGED.id: "sent"}])
def test_the_record_file_round_trips(results: dict[str, outbox.Result]) -> None:
    entries, _ = step({}, (MERGED, LIVE))
    entries, _ = step(entries, (), results)
    data = outbox.encode("ops", entries)
    assert outbox.decode(data, "f") == entries
    assert outbox.encode("ops", outbox.decode(data, "f")) == data


@pytest.mark.parametrize(
    "data",
    [b"not json", b"{}", b'{"format": 2, "events": {}}', b'{"format": 1, "events": {"x": {}}}'],
)
def test_a_damaged_record_file_is_an_error_naming_it(data: bytes) -> None:
    with pytest.raises(PermanentError, match="ops-record on the branch"):
        outbox.decode(data, "ops-record on the branch")


def test_a_shard_prunes_only_its_own_apps_entries() -> None:
    other = Event(kind="merged", app="cart", env="prod", at=NOW, digest="sha256:" + "3" * 64)
    entries, _ = step({}, (MERGED, other))
    entries, _ = step(entries, (), {MERGED.id: "sent", other.id: "sent"})
    later = NOW + outbox.RETAIN + timedelta(minutes=1)
    kept, _ = outbox.advance(
        entries, "ops", (), {}, me="a", now=later, timing=TIMING, room=0,
        apps=frozenset({"shop"}),
    )  # fmt: skip
    assert set(kept) == {other.id}
