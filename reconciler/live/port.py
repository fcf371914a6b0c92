"""The live-source port: what an environment runs for an app, and since when."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from reconciler.snapshot import LiveState


class LiveReader(Protocol):
    """Reads the live digest of (app, env) pairs of one environment's live source."""

    def read(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LiveState]:
        """One LiveState per (app, env); a source that cannot answer gives ``error``."""
        ...
