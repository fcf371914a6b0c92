"""The wall clock: the one place the daemon reads the time.

Pure code never calls it; it takes ``now`` as a parameter. Adapters take a clock callable
that defaults to this one, so tests can pass their own.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
