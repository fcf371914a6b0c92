"""Window gates: allow, deny and freeze, with zones and daylight-saving edges.

Calendar facts the cases rely on: 2026-05-11 is a Monday. Europe/Berlin springs forward
on Sun 2026-03-29 at 01:00Z (02:00 CET -> 03:00 CEST) and falls back on Sun 2026-10-25 at
01:00Z (03:00 CEST -> 02:00 CET). America/New_York springs forward on Sun 2026-03-08 at
07:00Z (02:00 EST -> 03:00 EDT) and falls back on Sun 2026-11-01 at 06:00Z (02:00 EDT ->
01:00 EST). Asia/Kolkata is UTC+05:30 all year.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reconciler.gates import Candidate, evaluate
from reconciler.gates.windows import is_open, last_change, local_start, next_change
from reconciler.policy.model import WindowGate
from reconciler.policy.values import parse_freeze_range, parse_weekly_window

ANY = Candidate("order-gateway", "staging", "sha256:" + "b" * 64, None)
KOLKATA_HOURS = "Mon-Fri 09:00-17:00 Asia/Kolkata"
XMAS = "2026-12-20T00:00+05:30/2027-01-03T00:00+05:30"


def window(
    allow: tuple[str, ...] = (), deny: tuple[str, ...] = (), freeze: tuple[str, ...] = ()
) -> WindowGate:
    return WindowGate(
        name="business-hours",
        kind="window",
        allow=tuple(parse_weekly_window(w) for w in allow),
        deny=tuple(parse_weekly_window(w) for w in deny),
        freeze=tuple(parse_freeze_range(f) for f in freeze),
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (case, gate, now in UTC, open, code)
MOMENTS = [
    ("no windows: always open", window(), "2026-05-16T03:00:00", True, "passed"),
    (
        "before the allow window",
        window((KOLKATA_HOURS,)),
        "2026-05-11T03:29:59",
        False,
        "outside-window",
    ),
    (
        "allow window start is inclusive",
        window((KOLKATA_HOURS,)),
        "2026-05-11T03:30:00",
        True,
        "passed",
    ),
    (
        "last second of the allow window",
        window((KOLKATA_HOURS,)),
        "2026-05-11T11:29:59",
        True,
        "passed",
    ),
    (
        "allow window end is exclusive",
        window((KOLKATA_HOURS,)),
        "2026-05-11T11:30:00",
        False,
        "outside-window",
    ),
    ("a day not listed", window((KOLKATA_HOURS,)), "2026-05-16T05:00:00", False, "outside-window"),
    (
        "any of several allow windows",
        window(("Mon 09:00-10:00 UTC", "Sat 09:00-10:00 UTC")),
        "2026-05-16T09:30:00",
        True,
        "passed",
    ),
    (
        "deny wins over allow",
        window(("Mon-Fri 09:00-17:00 Europe/Berlin",), ("Fri 16:00-24:00 Europe/Berlin",)),
        "2026-05-15T14:30:00",
        False,
        "denied",
    ),
    (
        "allowed just before the deny",
        window(("Mon-Fri 09:00-17:00 Europe/Berlin",), ("Fri 16:00-24:00 Europe/Berlin",)),
        "2026-05-15T13:59:59",
        True,
        "passed",
    ),
    (
        "deny alone, inside",
        window(deny=("Sat,Sun 00:00-24:00 UTC",)),
        "2026-05-17T23:59:59",
        False,
        "denied",
    ),
    (
        "deny alone, outside",
        window(deny=("Sat,Sun 00:00-24:00 UTC",)),
        "2026-05-18T00:00:00",
        True,
        "passed",
    ),
    (
        "24:00 ends at midnight",
        window(("Sat,Sun 00:00-24:00 UTC",)),
        "2026-05-17T23:59:59",
        True,
        "passed",
    ),
    (
        "wrap past midnight: the next morning",
        window(("Fri 22:00-06:00 UTC",)),
        "2026-05-16T05:59:59",
        True,
        "passed",
    ),
    (
        "wrap past midnight: end exclusive",
        window(("Fri 22:00-06:00 UTC",)),
        "2026-05-16T06:00:00",
        False,
        "outside-window",
    ),
    (
        "wrap past midnight: a day not listed starts none",
        window(("Fri 22:00-06:00 UTC",)),
        "2026-05-16T23:00:00",
        False,
        "outside-window",
    ),
    (
        "wrap past midnight: the evening",
        window(("Fri 22:00-06:00 UTC",)),
        "2026-05-15T22:00:00",
        True,
        "passed",
    ),
    (
        "inside a freeze",
        window((KOLKATA_HOURS,), freeze=(XMAS,)),
        "2026-12-22T05:00:00",
        False,
        "frozen",
    ),
    ("freeze start is inclusive", window(freeze=(XMAS,)), "2026-12-19T18:30:00", False, "frozen"),
    ("freeze end is exclusive", window(freeze=(XMAS,)), "2027-01-02T18:30:00", True, "passed"),
    (
        "freeze wins over deny",
        window(deny=("Mon-Sun 00:00-24:00 UTC",), freeze=(XMAS,)),
        "2026-12-22T05:00:00",
        False,
        "frozen",
    ),
    # Berlin, spring forward: 02:00-03:00 local does not exist on 2026-03-29.
    (
        "Berlin spring: a start in the gap opens at the jump, not before",
        window(("Sun 02:30-04:00 Europe/Berlin",)),
        "2026-03-29T00:59:59",
        False,
        "outside-window",
    ),
    (
        "Berlin spring: a start in the gap opens at the jump",
        window(("Sun 02:30-04:00 Europe/Berlin",)),
        "2026-03-29T01:00:00",
        True,
        "passed",
    ),
    (
        "Berlin spring: closes at 04:00 CEST",
        window(("Sun 02:30-04:00 Europe/Berlin",)),
        "2026-03-29T02:00:00",
        False,
        "outside-window",
    ),
    (
        "Berlin spring: an end in the gap closes at the jump",
        window(("Sun 01:00-02:30 Europe/Berlin",)),
        "2026-03-29T00:59:59",
        True,
        "passed",
    ),
    (
        "Berlin spring: an end in the gap closes at the jump, exclusive",
        window(("Sun 01:00-02:30 Europe/Berlin",)),
        "2026-03-29T01:00:00",
        False,
        "outside-window",
    ),
    (
        "Berlin spring: a window inside the gap does not occur",
        window(("Sun 02:05-02:55 Europe/Berlin",)),
        "2026-03-29T01:00:00",
        False,
        "outside-window",
    ),
    (
        "Berlin spring: office hours move an hour earlier in UTC",
        window(("Mon-Fri 09:00-17:00 Europe/Berlin",)),
        "2026-03-30T07:00:00",
        True,
        "passed",
    ),
    (
        "Berlin spring: 08:59 CEST is outside",
        window(("Mon-Fri 09:00-17:00 Europe/Berlin",)),
        "2026-03-30T06:59:59",
        False,
        "outside-window",
    ),
    (
        "Berlin winter: 09:00 CET",
        window(("Mon-Fri 09:00-17:00 Europe/Berlin",)),
        "2026-03-27T08:00:00",
        True,
        "passed",
    ),
    # Berlin, fall back: 02:00-03:00 local happens twice on 2026-10-25.
    (
        "Berlin fall: opens at the first 02:30",
        window(("Sun 02:30-04:00 Europe/Berlin",)),
        "2026-10-25T00:30:00",
        True,
        "passed",
    ),
    (
        "Berlin fall: the repeated hour does not close it",
        window(("Sun 02:30-04:00 Europe/Berlin",)),
        "2026-10-25T01:15:00",
        True,
        "passed",
    ),
    (
        "Berlin fall: closes at 04:00 CET",
        window(("Sun 02:30-04:00 Europe/Berlin",)),
        "2026-10-25T03:00:00",
        False,
        "outside-window",
    ),
    (
        "Berlin fall: closes at the first 02:30",
        window(("Sun 01:00-02:30 Europe/Berlin",)),
        "2026-10-25T00:30:00",
        False,
        "outside-window",
    ),
    (
        "Berlin fall: the second 02:15 does not reopen it",
        window(("Sun 01:00-02:30 Europe/Berlin",)),
        "2026-10-25T01:15:00",
        False,
        "outside-window",
    ),
    (
        "Berlin fall: opened at 01:00 CEST",
        window(("Sun 01:00-02:30 Europe/Berlin",)),
        "2026-10-24T23:00:00",
        True,
        "passed",
    ),
    # New York, spring forward and fall back.
    (
        "New York spring: a deny ending in the gap ends at the jump",
        window(deny=("Sun 01:30-02:30 America/New_York",)),
        "2026-03-08T06:59:59",
        False,
        "denied",
    ),
    (
        "New York spring: open from the jump",
        window(deny=("Sun 01:30-02:30 America/New_York",)),
        "2026-03-08T07:00:00",
        True,
        "passed",
    ),
    (
        "New York fall: 01:10 EDT is inside",
        window(("Sun 01:00-01:30 America/New_York",)),
        "2026-11-01T05:10:00",
        True,
        "passed",
    ),
    (
        "New York fall: the second 01:10 (EST) is not",
        window(("Sun 01:00-01:30 America/New_York",)),
        "2026-11-01T06:10:00",
        False,
        "outside-window",
    ),
    (
        "New York fall: a window across the change is one stretch",
        window(("Sun 00:30-03:00 America/New_York",)),
        "2026-11-01T07:59:59",
        True,
        "passed",
    ),
    (
        "New York fall: ... ending at 03:00 EST",
        window(("Sun 00:30-03:00 America/New_York",)),
        "2026-11-01T08:00:00",
        False,
        "outside-window",
    ),
]


@pytest.mark.parametrize(
    ("gate", "now", "open_", "code"), [pytest.param(*c[1:], id=c[0]) for c in MOMENTS]
)
def test_window_at(gate: WindowGate, now: str, open_: bool, code: str) -> None:
    result = evaluate(gate, [], ANY, utc(now))
    assert (result.passed, result.code) == (open_, code)
    assert is_open(gate, utc(now)) == open_


def test_now_in_another_offset_is_the_same_instant() -> None:
    gate = window((KOLKATA_HOURS,))
    in_kolkata = datetime(2026, 5, 11, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert evaluate(gate, [], ANY, in_kolkata) == evaluate(gate, [], ANY, utc("2026-05-11T03:30"))


# (case, gate, now, next change or None)
CHANGES = [
    (
        "closed on Friday evening: opens Monday",
        window((KOLKATA_HOURS,)),
        "2026-05-15T12:00",
        "2026-05-18T03:30",
    ),
    (
        "open: closes at the end of the day",
        window((KOLKATA_HOURS,)),
        "2026-05-11T05:00",
        "2026-05-11T11:30",
    ),
    (
        "denied: opens when the deny ends and allow holds",
        window(("Mon-Fri 09:00-17:00 Europe/Berlin",), ("Fri 16:00-24:00 Europe/Berlin",)),
        "2026-05-15T15:00",
        "2026-05-18T07:00",
    ),
    (
        "frozen: the first allowed moment after the freeze",
        window((KOLKATA_HOURS,), freeze=(XMAS,)),
        "2026-12-25T00:00",
        "2027-01-04T03:30",
    ),
    (
        "frozen without allow windows: the freeze end",
        window(freeze=(XMAS,)),
        "2026-12-25T00:00",
        "2027-01-02T18:30",
    ),
    (
        "a freeze longer than the search step",
        window(("Wed 10:00-11:00 UTC",), freeze=("2026-06-01T00:00Z/2026-08-01T00:00Z",)),
        "2026-06-10T10:30",
        "2026-08-05T10:00",
    ),
    (
        "back-to-back freezes",
        window(
            freeze=("2026-06-01T00:00Z/2026-07-01T00:00Z", "2026-06-20T00:00Z/2026-09-01T00:00Z")
        ),
        "2026-06-10T00:00",
        "2026-09-01T00:00",
    ),
    (
        "open over a weekend deny: the deny start",
        window(deny=("Sat,Sun 00:00-24:00 UTC",)),
        "2026-05-13T12:00",
        "2026-05-16T00:00",
    ),
    (
        "Berlin: across spring forward, 09:00 CEST",
        window(("Mon-Fri 09:00-17:00 Europe/Berlin",)),
        "2026-03-28T12:00",
        "2026-03-30T07:00",
    ),
    (
        "Berlin: a window lost in the gap comes back next week",
        window(("Sun 02:05-02:55 Europe/Berlin",)),
        "2026-03-29T00:00",
        "2026-04-05T00:05",
    ),
    (
        "New York: across spring forward, 09:00 EDT",
        window(("Mon-Fri 09:00-17:00 America/New_York",)),
        "2026-03-07T12:00",
        "2026-03-09T13:00",
    ),
    ("always open: no change", window(), "2026-05-11T05:00", None),
    (
        "allow entirely denied: never opens",
        window(("Mon 09:00-10:00 UTC",), ("Mon 08:00-11:00 UTC",)),
        "2026-05-11T05:00",
        None,
    ),
]


@pytest.mark.parametrize(
    ("gate", "now", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CHANGES]
)
def test_next_change(gate: WindowGate, now: str, expected: str | None) -> None:
    assert next_change(gate, utc(now)) == (utc(expected) if expected else None)
    assert evaluate(gate, [], ANY, utc(now)).until == (utc(expected) if expected else None)


# (case, gate, now, since or None)
SINCE = [
    (
        "open since the window opened",
        window((KOLKATA_HOURS,)),
        "2026-05-11T05:00",
        "2026-05-11T03:30",
    ),
    (
        "closed since Friday's window closed",
        window((KOLKATA_HOURS,)),
        "2026-05-16T05:00",
        "2026-05-15T11:30",
    ),
    (
        "frozen inside office hours: since the freeze",
        window(("Mon-Fri 00:00-24:00 UTC",), freeze=("2026-06-03T10:30Z/2026-09-01T00:00Z",)),
        "2026-08-20T00:00",
        "2026-06-03T10:30",
    ),
    (
        "frozen after hours: since the hours ended",
        window(("Wed 10:00-11:00 UTC",), freeze=("2026-06-03T12:00Z/2026-09-01T00:00Z",)),
        "2026-08-20T00:00",
        "2026-06-03T11:00",
    ),
    (
        "open at the very start of a window",
        window((KOLKATA_HOURS,)),
        "2026-05-11T03:30",
        "2026-05-11T03:30",
    ),
    ("always open: since unknown", window(), "2026-05-11T05:00", None),
]


@pytest.mark.parametrize(
    ("gate", "now", "expected"), [pytest.param(*c[1:], id=c[0]) for c in SINCE]
)
def test_since(gate: WindowGate, now: str, expected: str | None) -> None:
    assert last_change(gate, utc(now)) == (utc(expected) if expected else None)
    assert evaluate(gate, [], ANY, utc(now)).since == (utc(expected) if expected else None)


# (case, gate, now, reason)
REASONS = [
    (
        "open",
        window((KOLKATA_HOURS,)),
        "2026-05-11T05:00",
        "open: inside Mon-Fri 09:00-17:00 Asia/Kolkata; closes at 2026-05-11T11:30:00Z",
    ),
    ("open, no restriction", window(), "2026-05-11T05:00", "open: no window restricts now"),
    (
        "outside",
        window((KOLKATA_HOURS, "Sat 10:00-12:00 UTC")),
        "2026-05-11T00:00",
        "closed: outside Mon-Fri 09:00-17:00 Asia/Kolkata and Sat 10:00-12:00 UTC; "
        "opens at 2026-05-11T03:30:00Z",
    ),
    (
        "denied",
        window(deny=("Sat,Sun 00:00-24:00 UTC",)),
        "2026-05-16T10:00",
        "closed: denied by Sat,Sun 00:00-24:00 UTC; opens at 2026-05-18T00:00:00Z",
    ),
    (
        "frozen",
        window(freeze=(XMAS,)),
        "2026-12-25T00:00",
        "closed: frozen by 2026-12-20T00:00+05:30/2027-01-03T00:00+05:30; "
        "opens at 2027-01-02T18:30:00Z",
    ),
    (
        "never",
        window(("Mon 09:00-10:00 UTC",), ("Mon 08:00-11:00 UTC",)),
        "2026-05-11T05:00",
        "closed: outside Mon 09:00-10:00 UTC; no opening found in the 15 days searched",
    ),
]


@pytest.mark.parametrize(
    ("gate", "now", "reason"), [pytest.param(*c[1:], id=c[0]) for c in REASONS]
)
def test_reason(gate: WindowGate, now: str, reason: str) -> None:
    assert evaluate(gate, [], ANY, utc(now)).reason == reason


BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

# (case, day, clock, zone, first instant the local clock reads it or later)
STARTS = [
    ("ordinary time", date(2026, 5, 11), time(9), BERLIN, "2026-05-11T07:00"),
    ("Berlin gap: the jump", date(2026, 3, 29), time(2, 30), BERLIN, "2026-03-29T01:00"),
    ("Berlin gap start: the jump", date(2026, 3, 29), time(2, 0), BERLIN, "2026-03-29T01:00"),
    ("Berlin after the gap", date(2026, 3, 29), time(3, 0), BERLIN, "2026-03-29T01:00"),
    ("Berlin before the gap", date(2026, 3, 29), time(1, 59), BERLIN, "2026-03-29T00:59"),
    ("Berlin fold: the first reading", date(2026, 10, 25), time(2, 30), BERLIN, "2026-10-25T00:30"),
    ("Berlin after the fold", date(2026, 10, 25), time(3, 0), BERLIN, "2026-10-25T02:00"),
    ("New York gap", date(2026, 3, 8), time(2, 15), NEW_YORK, "2026-03-08T07:00"),
    ("New York fold", date(2026, 11, 1), time(1, 30), NEW_YORK, "2026-11-01T05:30"),
]


@pytest.mark.parametrize(
    ("day", "clock", "zone", "expected"), [pytest.param(*c[1:], id=c[0]) for c in STARTS]
)
def test_local_start(day: date, clock: time, zone: ZoneInfo, expected: str) -> None:
    assert local_start(day, clock, zone) == utc(expected)


def test_local_start_is_monotonic_across_a_gap_and_a_fold() -> None:
    for day, zone in ((date(2026, 3, 29), BERLIN), (date(2026, 10, 25), BERLIN)):
        clocks = [time(h, m) for h in range(24) for m in range(0, 60, 5)]
        instants = [local_start(day, c, zone) for c in clocks]
        assert instants == sorted(instants)
        # The clock moves forward by at most the step plus the jump.
        assert max(b - a for a, b in itertools.pairwise(instants)) <= timedelta(hours=1, minutes=5)
