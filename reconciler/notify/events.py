"""What is worth telling people after a cycle: events derived from its report (pure).

Each event has an identity (``Event.id``) made only of durable facts (app, environment,
digests, a blocked code, a gate), never of when this process noticed, so a restarted daemon
or another replica derives the same identity for the same happening and the outbox
(reconciler.notify.outbox) sends it once.

Two sorts: what the cycle *did* (opened, updated, merged, live: from its outcomes, once),
and what *holds* (waiting-review, blocked, gate-failing, drift: derived again every cycle
while true, and sent once the sink's threshold has passed). ``merged`` is also derived from
the forge's merged requests not yet seen live, so a person's merge is told too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from reconciler import promotions
from reconciler.actions import Action, CommitDirect, Merge, Plan, Propose, RecordLive
from reconciler.drift import Pinned, Running, drift
from reconciler.model import short as short_digest
from reconciler.policy.model import Policy
from reconciler.policy.notify import NotifyEvent, NotifySink
from reconciler.snapshot import Snapshot

# Gate codes that say the candidate is unwell (not merely "not yet"): an http gate's probes
# fail, Argo CD says unhealthy, CI's checks failed.
FAILING_GATE_CODES = frozenset({"failing", "unhealthy", "checks-failed"})
_HOLDING = frozenset({"waiting-review", "blocked", "gate-failing", "drift"})


class Outcome(Protocol):
    """What applying one action did (reconciler.applying.ActionOutcome), as read here."""

    @property
    def action(self) -> Action: ...
    @property
    def ok(self) -> bool: ...
    @property
    def result(self) -> str: ...
    @property
    def number(self) -> int | None: ...


@dataclass(frozen=True, kw_only=True)
class Event:
    """One thing that happened or holds, for one app in one target environment."""

    kind: NotifyEvent
    app: str
    env: str
    at: datetime  # when it happened, or since when it holds
    digest: str | None = None  # the digest promoted (drift: what git pins)
    source: str | None = None  # the environment promoted from
    number: int | None = None  # the promotion request
    code: str | None = None  # blocked: the reason's code
    gate: str | None = None
    reason: str | None = None  # for people
    live_digest: str | None = None  # drift: what runs

    @property
    def id(self) -> str:
        """The identity: the same happening gives the same id in any process."""
        parts: list[str] = [self.kind, self.app, self.env]
        if self.kind == "blocked":
            parts.append(self.code or "")
        if self.kind == "gate-failing":
            parts.append(self.gate or "")
        parts.append(self.digest or "")
        if self.kind in ("drift", "drift-resolved"):
            parts.append(self.live_digest or "")
        return ":".join(parts)

    def headline(self) -> str:
        """One line for people: what happened to which app where."""
        digest = short_digest(self.digest) if self.digest else "?"
        request = f" (#{self.number})" if self.number is not None else ""
        where = (
            f"{self.app} {self.source} -> {self.env}"
            if self.source
            else f"{self.app} in {self.env}"
        )
        lines: dict[str, str] = {
            "opened": f"Promotion opened: {where} {digest}{request}",
            "updated": f"Promotion updated: {where} {digest}{request}",
            "waiting-review": f"Waiting for review: {where} {digest}{request}",
            "merged": f"Promoted: {where} {digest}{request}",
            "live": f"Live: {self.app} runs {digest} in {self.env}",
            "blocked": f"Blocked [{self.code}]: {where} {digest}",
            "gate-failing": f"Gate {self.gate} failing: {where} {digest}",
            "drift": f"Drift: {self.app} in {self.env} runs "
            f"{short_digest(self.live_digest) if self.live_digest else '?'}, git pins {digest}",
            "drift-resolved": f"Drift resolved: {self.app} in {self.env} runs {digest} again",
        }
        return lines[self.kind]

    def facts(self) -> list[tuple[str, str]]:
        """Label and value pairs for a card: app, environments, digest, request, reason."""
        out = [("App", self.app), ("Environment", self.env)]
        if self.source:
            out.append(("From", self.source))
        if self.digest:
            out.append(("Digest" if self.kind != "drift" else "Git pins", self.digest))
        if self.live_digest:
            out.append(("Running", self.live_digest))
        if self.number is not None:
            out.append(("Request", f"#{self.number}"))
        if self.gate:
            out.append(("Gate", self.gate))
        if self.code and self.kind != "gate-failing":
            out.append(("Reason code", self.code))
        out.append(("Since" if self.kind in _HOLDING else "At", _iso(self.at)))
        return out

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (the outbox's records, the generic webhook)."""
        out: dict[str, Any] = {"event": self.kind, "app": self.app, "environment": self.env}
        out["at"] = _iso(self.at)
        for key in ("digest", "source", "number", "code", "gate", "reason", "live_digest"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """The inverse of ``to_json``; KeyError, TypeError or ValueError when malformed."""
        optional = {
            key: data[key]
            for key in ("digest", "source", "number", "code", "gate", "reason", "live_digest")
            if key in data
        }
        return cls(
            kind=data["event"],
            app=str(data["app"]),
            env=str(data["environment"]),
            at=parse_time(data["at"]),
            **optional,
        )


def derive(
    policy: Policy,
    snapshot: Snapshot,
    plan: Plan,
    outcomes: Sequence[Outcome],
    now: datetime,
) -> tuple[Event, ...]:
    """Every event this cycle's report holds (before any sink's choice or threshold)."""
    events: dict[str, Event] = {}
    for event in (
        *_done(snapshot, outcomes, now),
        *_merged_awaiting_live(snapshot),
        *_blocked(policy, snapshot, plan),
        *_gates(policy, snapshot, plan, now),
        *_drifts(snapshot),
    ):
        events.setdefault(event.id, event)
    return tuple(events.values())


def wanted(sink: NotifySink, event: Event, now: datetime) -> bool:
    """Whether ``sink`` takes ``event`` now: its events, environments, apps and thresholds."""
    if event.kind not in sink.events:
        return False
    if sink.environments and event.env not in sink.environments:
        return False
    if sink.apps and event.app not in sink.apps:
        return False
    waited = now - event.at
    threshold = {
        "waiting-review": sink.review_after,
        "blocked": sink.blocked_after,
        "drift": sink.drift_after,
    }.get(event.kind)
    return threshold is None or waited >= threshold


def resolved(notified: Iterable[Event], snapshot: Snapshot, now: datetime) -> tuple[Event, ...]:
    """``drift-resolved`` for each drift told before whose environment runs what git pins
    again (a drift that became another drift is resolved only when that one is)."""
    out = []
    for told in notified:
        if told.kind != "drift":
            continue
        key = (told.app, told.env)
        overlay, live = snapshot.overlays.get(key), snapshot.live.get(key)
        if overlay is None or overlay.pin is None or live is None or live.error:
            continue
        found = drift(
            Pinned(overlay.pin.digest or None, overlay.changed_at),
            Running(live.digest, live.since, live.rolling),
        )
        if found.known and not found.drifted and not found.rolling:
            out.append(dataclasses.replace(told, kind="drift-resolved", at=now, reason=None))
    return tuple(out)


def _done(snapshot: Snapshot, outcomes: Sequence[Outcome], now: datetime) -> Iterable[Event]:
    for outcome in outcomes:
        action = outcome.action
        if not outcome.ok:
            continue
        if isinstance(action, Propose) and outcome.result in ("opened", "updated"):
            marker = _marker(snapshot, action.app.name, action.env)
            if outcome.result == "updated" and marker and marker.digest == action.pin.digest:
                continue  # the same digest on a rebuilt head: nothing new for people
            yield Event(
                kind="opened" if outcome.result == "opened" else "updated",
                app=action.app.name,
                env=action.env,
                at=now,
                digest=action.pin.digest,
                source=action.source,
                number=outcome.number or action.number,
            )
        elif isinstance(action, CommitDirect) and outcome.result == "committed":
            yield Event(
                kind="merged",
                app=action.app.name,
                env=action.env,
                at=now,
                digest=action.pin.digest,
                source=action.source,
            )
        elif isinstance(action, Merge) and outcome.result == "merged":
            marker = _marker(snapshot, action.app, action.env)
            digest = action.edit.pin.digest if action.edit else None
            yield Event(
                kind="merged",
                app=action.app,
                env=action.env,
                at=now,
                digest=digest or (marker.digest if marker else None),
                source=marker.source if marker else None,
                number=action.number,
            )
        elif isinstance(action, RecordLive) and outcome.result == "live":
            request = snapshot.awaiting_live.get((action.app, action.env))
            marker = promotions.parse_marker(request.body) if request else None
            live = snapshot.live.get((action.app, action.env))
            yield Event(
                kind="live",
                app=action.app,
                env=action.env,
                at=action.at,
                digest=marker.digest if marker else (live.digest if live else None),
                source=marker.source if marker else None,
                number=action.number,
                reason="no live source: the merge's time is taken" if action.inferred else None,
            )


def _merged_awaiting_live(snapshot: Snapshot) -> Iterable[Event]:
    for (app, env), request in snapshot.awaiting_live.items():
        marker = promotions.parse_marker(request.body)
        if marker is None or request.merged_at is None:
            continue
        yield Event(
            kind="merged",
            app=app,
            env=env,
            at=request.merged_at,
            digest=marker.digest,
            source=marker.source,
            number=request.number,
        )


def _blocked(policy: Policy, snapshot: Snapshot, plan: Plan) -> Iterable[Event]:
    for block in plan.blocked:
        if block.since is None:
            continue  # how long it has held is not known: no threshold can be judged
        source = _source(policy, block.env)
        marker = _marker(snapshot, block.app, block.env)
        digest = marker.digest if marker else _pinned(snapshot, block.app, source or block.env)
        yield Event(
            kind="waiting-review" if block.code == "awaiting-review" else "blocked",
            app=block.app,
            env=block.env,
            at=block.since,
            digest=digest,
            source=source,
            number=_number(snapshot, block.app, block.env),
            code=block.code,
            reason=block.reason,
        )


def _gates(policy: Policy, snapshot: Snapshot, plan: Plan, now: datetime) -> Iterable[Event]:
    for app, env, result in plan.gates:
        if result.passed or result.code not in FAILING_GATE_CODES:
            continue
        source = _source(policy, env)
        yield Event(
            kind="gate-failing",
            app=app,
            env=env,
            at=result.since or now,
            digest=_pinned(snapshot, app, source) if source else None,
            source=source,
            gate=result.gate,
            code=result.code,
            reason=result.reason,
        )


def _drifts(snapshot: Snapshot) -> Iterable[Event]:
    for key, overlay in snapshot.overlays.items():
        live = snapshot.live.get(key)
        if overlay.pin is None or live is None or live.error:
            continue
        found = drift(
            Pinned(overlay.pin.digest or None, overlay.changed_at),
            Running(live.digest, live.since, live.rolling),
        )
        if found.drifted and found.since is not None:
            yield Event(
                kind="drift",
                app=key[0],
                env=key[1],
                at=found.since,
                digest=overlay.pin.digest,
                live_digest=live.digest,
            )


def _source(policy: Policy, env: str) -> str | None:
    environment = policy.environments.get(env)
    return environment.follows if environment else None


def _pinned(snapshot: Snapshot, app: str, env: str | None) -> str | None:
    overlay = snapshot.overlays.get((app, env)) if env else None
    return (overlay.pin.digest or None) if overlay and overlay.pin else None


def _marker(snapshot: Snapshot, app: str, env: str) -> promotions.Marker | None:
    state = snapshot.requests.get((app, env))
    return promotions.parse_marker(state.request.body) if state else None


def _number(snapshot: Snapshot, app: str, env: str) -> int | None:
    state = snapshot.requests.get((app, env))
    return state.request.number if state else None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime:
    """``2026-05-10T10:00:20Z`` -> an aware datetime; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected a time, got {type(text).__name__}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
