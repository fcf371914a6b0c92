"""Drift and lag from literal facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.drift import Pinned, Running, drift, lag_seconds

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
H = timedelta(hours=1)

DRIFT = [
    ("no live source", Pinned(A, T0), None, (False, False, None)),
    ("live unknown", Pinned(A, T0), Running(None, None), (False, False, None)),
    ("in sync", Pinned(A, T0), Running(A, T0 + H), (False, True, None)),
    ("new pin not rolled out", Pinned(B, T0 + H), Running(A, T0), (True, True, T0 + H)),
    ("hand-made change", Pinned(A, T0), Running(B, T0 + 2 * H), (True, True, T0 + 2 * H)),
    ("rollout in progress", Pinned(B, T0 + H), Running(A, T0, rolling=True), (False, True, None)),
]


@pytest.mark.parametrize(
    ("desired", "live", "expected"), [c[1:] for c in DRIFT], ids=[c[0] for c in DRIFT]
)
def test_drift(desired: Pinned, live: Running | None, expected: tuple[object, ...]) -> None:
    result = drift(desired, live)
    assert (result.drifted, result.known, result.since) == expected


def test_drift_seconds_counts_from_since() -> None:
    result = drift(Pinned(B, T0), Running(A, T0 - H))
    assert result.seconds(T0 + 90 * timedelta(seconds=1)) == 90.0
    assert drift(Pinned(A, T0), Running(A, T0)).seconds(T0 + H) == 0.0


LAG = [
    ("same pin", Pinned(A, T0), Pinned(A, T0), 0.0),
    ("behind since the source changed", Pinned(A, T0), Pinned(B, T0 + H), 3600.0),
    ("source has no pin", Pinned(A, T0), Pinned(None, None), 0.0),
]


@pytest.mark.parametrize(
    ("target", "source", "seconds"), [c[1:] for c in LAG], ids=[c[0] for c in LAG]
)
def test_lag(target: Pinned, source: Pinned, seconds: float) -> None:
    assert lag_seconds(target, source, T0 + 2 * H) == seconds
