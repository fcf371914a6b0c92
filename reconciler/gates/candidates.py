"""The candidate a gate judges: a digest on its way from a source to a target environment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# "live": a live source reported the source environment running the digest (strong).
# "overlay": no live source; the source overlay's commit time stands in for it (weak).
Binding = Literal["live", "overlay"]


@dataclass(frozen=True)
class Candidate:
    """A digest for ``app`` that ``source_env`` runs and its follower does not (yet).

    ``live_since`` is when the digest became live in the source environment, as far as
    durable facts tell: with ``binding="live"``, from the live source (None when the
    source does not run it now); with ``binding="overlay"``, the commit time that pinned
    it in the source overlay (see ``pins.pinned_since``). Both survive a daemon restart.
    """

    app: str
    source_env: str
    digest: str
    live_since: datetime | None
    binding: Binding = "live"

    @property
    def weak(self) -> bool:
        """True when no live source backs the binding (the plan must say so)."""
        return self.binding == "overlay"
