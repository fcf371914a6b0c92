"""A cycle's phases, timed: where a slow start-up spent its time (the first cycle's line)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Stopwatch:
    """Seconds spent in each named phase, in the order first reached: each lap ends one
    phase and starts the next; a phase lapped twice adds up."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._mark = clock()
        self._laps: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def restart(self) -> None:
        """Forget every lap; the next phase starts now."""
        self._laps.clear()
        self._counts.clear()
        self.resume()

    def resume(self) -> None:
        """The next phase starts now: the time since the last lap counts in none."""
        self._mark = self._clock()

    def lap(self, phase: str, count: int | None = None) -> None:
        """``phase`` ends now; ``count``: how many things it read (overlays, say)."""
        now = self._clock()
        self._laps[phase] = self._laps.get(phase, 0.0) + now - self._mark
        self._mark = now
        if count is not None:
            self._counts[phase] = count

    @property
    def laps(self) -> dict[str, float]:
        """Seconds per phase, rounded to the millisecond."""
        return {phase: round(seconds, 3) for phase, seconds in self._laps.items()}

    @property
    def counts(self) -> dict[str, int]:
        """What the phases that counted something counted."""
        return dict(self._counts)

    def text(self) -> str:
        """``fetch 12.1s, policy+overlays (3000) 0.80s, ...``."""
        return ", ".join(
            f"{phase}{f' ({self._counts[phase]})' if phase in self._counts else ''} "
            f"{_seconds(seconds)}"
            for phase, seconds in self._laps.items()
        )


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds >= 1 else f"{seconds:.2f}s"
