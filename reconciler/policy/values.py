"""Parsers for the policy's string-encoded values: durations, URLs, paths, windows.

Each parser takes the raw TOML value and returns the typed value or raises ValueError with
a message written for the person editing ``promotions.toml``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(
    r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?!s))?(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$"
)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ItemValueError(ValueError):
    """A problem with one item of an array value; ``index`` locates it."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def parse_duration(raw: object) -> timedelta:
    """``"1h30m"`` -> timedelta; units d, h, m, s, ms, largest first."""
    if not isinstance(raw, str):
        raise ValueError(f'expected a duration string such as "30s" or "5m", got {describe(raw)}')
    match = _DURATION.match(raw.strip())
    if not raw.strip() or match is None or not any(match.groupdict().values()):
        raise ValueError(
            f'invalid duration "{raw}": use a number and a unit (d, h, m, s, ms), '
            'largest unit first, such as "90s", "5m" or "1h30m"'
        )
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
        milliseconds=parts.get("ms", 0),
    )


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, for summaries and generated docs."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, total_ms = divmod(total_ms, size)
        if count:
            out.append(f"{count}{unit}")
    if total_ms:
        out.append(f"{total_ms}ms")
    return "".join(out)


def placeholders(text: str) -> list[str]:
    """The ``{name}`` placeholders used in ``text``; ValueError on unbalanced braces."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f'"{text}" has an unbalanced brace: {exc}') from None


def check_placeholders(text: str, allowed: tuple[str, ...]) -> None:
    """Raise ValueError naming any placeholder other than ``allowed``."""
    for name in placeholders(text):
        if name not in allowed:
            allowed_text = " and ".join("{" + a + "}" for a in allowed) or "none"
            raise ValueError(
                f'unknown placeholder "{{{name}}}" in "{text}"; allowed here: {allowed_text}'
            )


def fill(text: str, **values: str) -> str:
    """Substitute placeholders (already checked) without str.format's other syntax."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _expect_str(raw: object, what: str) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected {what} (a string), got {describe(raw)}")
    return raw


def parse_url(raw: object, allowed: tuple[str, ...] = ("app", "env")) -> str:
    """An http(s) URL that may contain the ``allowed`` placeholders."""
    raw = _expect_str(raw, "a URL")
    check_placeholders(raw, allowed)
    parts = urlsplit(fill(raw, **dict.fromkeys(allowed, "x")))
    if parts.scheme not in ("http", "https"):
        raise ValueError(f'"{raw}" is not an http:// or https:// URL')
    if not parts.hostname:
        raise ValueError(f'"{raw}" has no host')
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError:
        raise ValueError(f'"{raw}" has an invalid port') from None
    return raw


def parse_repo_path(raw: object, allowed: tuple[str, ...] = ("app",)) -> str:
    """A path relative to the config repo root that cannot leave the repo by its spelling."""
    raw = _expect_str(raw, "a path")
    check_placeholders(raw, allowed)
    if not raw.strip():
        raise ValueError("path is empty; give a folder relative to the repo root")
    if "\\" in raw:
        raise ValueError(f'"{raw}" uses a backslash; write paths with "/"')
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise ValueError(f'"{raw}" is absolute; write it relative to the repo root')
    parts = raw.split("/")
    if ".." in parts:
        raise ValueError(f'"{raw}" contains ".."; paths must stay inside the repo')
    return "/".join(p for p in parts if p not in ("", "."))


def parse_part_path(raw: object) -> str:
    """A part's own file or folder, relative to its environment's overlay and under it."""
    raw = _expect_str(raw, "a path")
    check_placeholders(raw, ("app",))
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if "\\" in raw:
        raise ValueError(f'"{raw}" uses a backslash; write paths with "/"')
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise ValueError(
            f'"{raw}" is absolute; write it relative to the environment\'s overlay, such as "jobs"'
        )
    if ".." in parts:
        raise ValueError(
            f'"{raw}" contains ".."; a part\'s overlay lies under its environment\'s overlay'
        )
    if not parts:
        raise ValueError(
            f'"{raw}" names the environment\'s own overlay; remove the key to pin the part there'
        )
    return "/".join(parts)


def parse_workload(raw: object) -> str:
    """``deployment/{app}``: a workload kind the live source reads, and a name."""
    raw = _expect_str(raw, "a workload")
    kind, _, name = raw.partition("/")
    if kind.lower() not in ("deployment", "statefulset", "daemonset") or not name:
        raise ValueError(
            f'"{raw}" is not KIND/NAME with KIND deployment, statefulset or daemonset, '
            'such as "deployment/{app}"'
        )
    check_placeholders(name, ("app", "env"))
    return raw


def parse_status_list(raw: object) -> tuple[int, ...]:
    """``200`` or ``[200, 204]`` -> a tuple of HTTP status codes."""
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise ValueError("expect_status is empty; give at least one status such as 200")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 100 <= item <= 599:
            raise ValueError(
                f"expected an HTTP status (100-599) or a list of them, got {describe(item)}"
            )
        out.append(item)
    return tuple(out)


def parse_json_expectations(raw: object) -> Mapping[str, Any]:
    """A table of expected JSON fields; nested tables become dotted paths."""
    if not isinstance(raw, dict):
        raise ValueError(f'expected a table such as {{ status = "ok" }}, got {describe(raw)}')
    flat: dict[str, Any] = {}

    def walk(prefix: str, table: dict[str, Any]) -> None:
        for key, value in table.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                if not value:
                    raise ValueError(f'"{path}" is an empty table; give the value to compare')
                walk(path, value)
            elif isinstance(value, (datetime, time)) or type(value).__name__ == "date":
                raise ValueError(f'"{path}": dates cannot appear in JSON; quote it as a string')
            else:
                flat[path] = value

    walk("", raw)
    if not flat:
        raise ValueError("expect_json is empty; give at least one field to compare")
    return MappingProxyType(flat)


def parse_regex(raw: object) -> str:
    """A regular expression (Python syntax) that compiles."""
    raw = _expect_str(raw, "a regular expression")
    try:
        re.compile(raw)
    except re.error as exc:
        raise ValueError(f'invalid regular expression "{raw}": {exc}') from None
    return raw


# -- time windows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyWindow:
    """Recurring hours such as ``Mon-Fri 09:00-17:00 Asia/Kolkata``; ``end <= start`` wraps."""

    text: str
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time  # time(0, 0) with ``end_of_day`` for "24:00"
    end_of_day: bool
    zone: str


@dataclass(frozen=True)
class FreezeRange:
    """An absolute range ``START/END`` (ISO 8601 with offsets), start inclusive."""

    text: str
    start: datetime
    end: datetime


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        names = item.strip().lower().split("-")
        if len(names) not in (1, 2) or any(n[:3] not in _DAYS or len(n) < 3 for n in names):
            raise ValueError(f'"{item.strip()}" is not a day or day range such as Mon-Fri')
        first = _DAYS.index(names[0][:3])
        last = _DAYS.index(names[-1][:3])
        k = first
        while True:
            days.add(k)
            if k == last:
                break
            k = (k + 1) % 7
    return frozenset(days)


def _parse_clock(text: str) -> tuple[time, bool]:
    match = re.match(r"^(\d{1,2}):(\d{2})$", text)
    if not match:
        raise ValueError(f'"{text}" is not a time such as 09:00')
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        return time(0, 0), True
    if hour > 23 or minute > 59:
        raise ValueError(f'"{text}" is not a time of day (00:00-24:00)')
    return time(hour, minute), False


def parse_weekly_window(raw: str) -> WeeklyWindow:
    """``"Mon-Fri 09:00-17:00 Asia/Kolkata"``; the zone defaults to UTC."""
    words = raw.split()
    if len(words) not in (2, 3):
        raise ValueError(
            f'"{raw}" is not a window; write DAYS HH:MM-HH:MM ZONE, '
            'such as "Mon-Fri 09:00-17:00 Asia/Kolkata"'
        )
    days = _parse_days(words[0])
    clock = words[1].split("-")
    if len(clock) != 2:
        raise ValueError(f'"{words[1]}" is not a time range such as 09:00-17:00')
    start, start_eod = _parse_clock(clock[0])
    end, end_eod = _parse_clock(clock[1])
    if start_eod:
        raise ValueError(f'"{words[1]}": a window cannot start at 24:00')
    if start == end and not end_eod:
        raise ValueError(f'"{words[1]}" is empty; use 00:00-24:00 for the whole day')
    zone = words[2] if len(words) == 3 else "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone "{zone}"; use an IANA name such as Europe/Berlin or UTC'
        ) from None
    return WeeklyWindow(raw, days, start, end, end_eod, zone)


def parse_freeze_range(raw: str) -> FreezeRange:
    """``"2026-12-20T00:00+05:30/2027-01-03T00:00+05:30"``; both ends need an offset."""
    ends = raw.split("/")
    if len(ends) != 2:
        raise ValueError(f'"{raw}" is not a range; write START/END in ISO 8601 with offsets')
    parsed = []
    for end in ends:
        try:
            moment = datetime.fromisoformat(end.strip())
        except ValueError:
            raise ValueError(
                f'"{end}" is not an ISO 8601 time such as 2026-12-20T00:00+05:30'
            ) from None
        if moment.tzinfo is None:
            raise ValueError(f'"{end}" has no UTC offset; add one such as +00:00 or Z')
        parsed.append(moment)
    if parsed[0] >= parsed[1]:
        raise ValueError(f'"{raw}" ends before it starts')
    return FreezeRange(raw, parsed[0], parsed[1])


def describe(value: object) -> str:
    """A TOML-flavoured description of a value, for type errors."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'string "{shown}"'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a date/time ({value})"
