"""The plan being drawn up: the actions, blocks and gate verdicts decided so far."""

from __future__ import annotations

from datetime import datetime

from reconciler.actions import Action, Blocked
from reconciler.gates import GateResult
from reconciler.policy.model import Policy
from reconciler.reasons import BlockedCode
from reconciler.snapshot import Snapshot


class Draft:
    """One planning pass over ``snapshot`` under ``policy`` at ``now``."""

    def __init__(self, policy: Policy, snapshot: Snapshot, now: datetime) -> None:
        self.policy = policy
        self.snap = snapshot
        self._now = now
        self.timed = False
        self.actions: list[Action] = []
        self.blocked: list[Blocked] = []
        self.results: list[tuple[str, str, GateResult]] = []
        self.planned: set[tuple[str, str]] = set()

    @property
    def now(self) -> datetime:
        """The plan's time; reading it marks the plan as depending on it."""
        self.timed = True
        return self._now

    def block(
        self, app: str, env: str, code: BlockedCode, reason: str, **when: datetime | None
    ) -> None:
        """Record that ``app`` is not promoted into ``env`` now, and why."""
        self.blocked.append(
            Blocked(
                app=app,
                env=env,
                code=code,
                reason=reason,
                since=when.get("since"),
                until=when.get("until"),
            )
        )
