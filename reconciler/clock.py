"""The wall clock: the one place the daemon reads the time.

Pure code never calls it; it takes ``now`` as a parameter. Adapters take a clock callable
that defaults to this one, so tests can pass their own.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def parse_moment(value: object) -> datetime | None:
    """An ISO 8601 time that names its zone (``Z`` accepted); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
