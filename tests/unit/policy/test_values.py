"""Parsers of string-encoded policy values."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from reconciler.policy import values

DURATIONS = [
    ("30s", timedelta(seconds=30)),
    ("5m", timedelta(minutes=5)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("2d", timedelta(days=2)),
    ("250ms", timedelta(milliseconds=250)),
    ("1m500ms", timedelta(minutes=1, milliseconds=500)),
    ("0s", timedelta(0)),
]


@pytest.mark.parametrize(("text", "expected"), DURATIONS)
def test_duration(text: str, expected: timedelta) -> None:
    assert values.parse_duration(text) == expected
    assert values.parse_duration(values.format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "30", "5 m", "m5", "30m1h", "1.5h", "-1s", "5mins"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        values.parse_duration(text)


WINDOWS = [
    ("Mon-Fri 09:00-17:00 Asia/Kolkata", {0, 1, 2, 3, 4}, time(9), time(17), False, "Asia/Kolkata"),
    ("Fri-Mon 22:00-06:00", {4, 5, 6, 0}, time(22), time(6), False, "UTC"),
    ("sat,sun 00:00-24:00 Europe/Berlin", {5, 6}, time(0), time(0), True, "Europe/Berlin"),
    ("Wednesday 10:30-11:00 UTC", {2}, time(10, 30), time(11), False, "UTC"),
]


@pytest.mark.parametrize(("text", "days", "start", "end", "eod", "zone"), WINDOWS)
def test_weekly_window(
    text: str, days: set[int], start: time, end: time, eod: bool, zone: str
) -> None:
    window = values.parse_weekly_window(text)
    assert (set(window.days), window.start, window.end, window.end_of_day, window.zone) == (
        days,
        start,
        end,
        eod,
        zone,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon-Fri", "is not a window"),
        ("Mon-Fry 09:00-17:00", "is not a day"),
        ("Mon 9-17", "is not a time"),
        ("Mon 09:00-25:00", "is not a time of day"),
        ("Mon 10:00-10:00", "is empty"),
        ("Mon 24:00-10:00", "cannot start at 24:00"),
        ("Mon 09:00-17:00 Nowhere/City", "unknown time zone"),
    ],
)
def test_bad_weekly_window(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        values.parse_weekly_window(text)


def test_freeze_range() -> None:
    freeze = values.parse_freeze_range("2026-12-20T00:00+05:30/2027-01-03T00:00Z")
    assert freeze.start == datetime(2026, 12, 19, 18, 30, tzinfo=UTC)
    assert freeze.end == datetime(2027, 1, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-20T00:00", "is not a range"),
        ("2026-12-20T00:00/2027-01-03T00:00+05:30", "has no UTC offset"),
        ("tomorrow/2027-01-03T00:00+05:30", "is not an ISO 8601 time"),
    ],
)
def test_bad_freeze_range(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        values.parse_freeze_range(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("overlays/prod", "overlays/prod"), ("./overlays//{app}/", "overlays/{app}")],
)
def test_repo_path_is_normalised(text: str, expected: str) -> None:
    assert values.parse_repo_path(text) == expected


@pytest.mark.parametrize("text", ["", "/abs", "C:/x", "a\\b", "a/../b", "..", "{env}/x", "a/{"])
def test_bad_repo_path(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each message is checked in test_rules
        values.parse_repo_path(text)


def test_json_expectations_flatten_nested_tables() -> None:
    assert dict(values.parse_json_expectations({"status": "ok", "db": {"up": True}})) == {
        "status": "ok",
        "db.up": True,
    }


def test_status_list() -> None:
    assert values.parse_status_list(204) == (204,)
    assert values.parse_status_list([200, 301]) == (200, 301)
    with pytest.raises(ValueError, match="HTTP status"):
        values.parse_status_list(True)  # noqa: FBT003 - a bool is the invalid input under test
