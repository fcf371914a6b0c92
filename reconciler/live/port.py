"""The live-source port: what an environment runs for an app, and since when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from reconciler.snapshot import ApplicationStatus, LiveState


class LiveReader(Protocol):
    """Reads the live digest of (app, env) pairs of one environment's live source."""

    def read(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LiveState]:
        """One LiveState per (app, env); a source that cannot answer gives ``error``."""
        ...


@runtime_checkable
class ApplicationReader(Protocol):
    """A live source that also tells sync and health (Argo CD), for the `argocd` gate."""

    def statuses(
        self, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ApplicationStatus]:
        """One status per (app, env), each read once per cycle."""
        ...

    def live_state(
        self, pair: tuple[str, str], status: ApplicationStatus, now: datetime
    ) -> LiveState:
        """The LiveState a status says, as ``read`` would."""
        ...
