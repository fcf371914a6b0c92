"""Plans and status as people and scripts read them (`reconciler plan`, `reconciler status`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from reconciler import drift
from reconciler.actions import (
    AddLabels,
    Blocked,
    Close,
    CommitDirect,
    Merge,
    MoveTag,
    Plan,
    Propose,
    RecordLive,
    RecordRollback,
    RequestReviews,
    action_key,
)
from reconciler.applying import ActionOutcome
from reconciler.gates.results import stamp
from reconciler.model import short as short_digest
from reconciler.policy import Policy
from reconciler.snapshot import Snapshot


def _when(moment: datetime | None) -> str:
    return stamp(moment) if moment else "-"


def describe_action(action: object) -> str:
    """One line for an action."""
    if isinstance(action, Propose):
        verb = f"update #{action.number}" if action.number is not None else "open request"
        return f"{verb}: {action.title} ({action.path})"
    if isinstance(action, CommitDirect):
        digest = short_digest(action.pin.digest)
        return f"commit to base: pin {action.app.name} {digest} in {action.path}"
    if isinstance(action, Merge):
        who = f" approved by {', '.join(action.approvers)}" if action.approvers else ""
        return f"merge #{action.number}{who}"
    if isinstance(action, Close):
        return f"close #{action.number}: {action.comment}"
    if isinstance(action, RecordRollback):
        return f"record the rollback of {action.digest[:15]} by {action.commit[:12]}"
    if isinstance(action, RequestReviews):
        return f"ask {' '.join(action.reviewers)} to review #{action.number}"
    if isinstance(action, AddLabels):
        return f"label #{action.number} {' '.join(action.labels)}"
    if isinstance(action, MoveTag):
        return f"move registry tag {action.tag} to {action.digest[:15]}"
    if isinstance(action, RecordLive):
        return f"record #{action.number} live since {_when(action.at)}"
    return repr(action)


def plan_text(plan: Plan) -> str:
    """The plan, readable: actions, then blocked promotions with why and since when."""
    lines = [f"note: {note}" for note in plan.notes]
    if plan.actions:
        lines.append("actions:")
        for action in plan.actions:
            app, env = action_key(action)
            lines.append(f"  {app} -> {env}: {describe_action(action)}")
    else:
        lines.append("actions: none")
    return "\n".join(lines) + "\n" + blocked_text(plan.blocked)


def blocked_text(blocked: Sequence[Blocked]) -> str:
    """Blocked promotions with why, since when and until when."""
    if not blocked:
        return ""
    lines = ["blocked:"]
    for item in blocked:
        lines.append(f"  {item.app} -> {item.env}: [{item.code}] {item.reason}")
        if item.since or item.until:
            lines.append(f"      since {_when(item.since)}, until {_when(item.until)}")
    return "\n".join(lines) + "\n"


def _blocked_json(blocked: Blocked) -> dict[str, Any]:
    return {
        "app": blocked.app,
        "env": blocked.env,
        "code": blocked.code,
        "reason": blocked.reason,
        "since": _when(blocked.since) if blocked.since else None,
        "until": _when(blocked.until) if blocked.until else None,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan for scripts."""
    actions = []
    for action in plan.actions:
        app, env = action_key(action)
        entry: dict[str, Any] = {"app": app, "env": env, "kind": type(action).__name__.lower()}
        if isinstance(action, (Propose, CommitDirect)):
            entry |= {"digest": action.pin.digest, "path": action.path, "source": action.source}
        if isinstance(action, (Propose, Merge, Close)) and getattr(action, "number", None):
            entry["request"] = action.number
        entry["summary"] = describe_action(action)
        actions.append(entry)
    gates = [
        {
            "app": app,
            "env": env,
            "gate": r.gate,
            "passed": r.passed,
            "code": r.code,
            "reason": r.reason,
            "weak_binding": r.weak_binding,
        }
        for app, env, r in plan.gates
    ]
    return {
        "actions": actions,
        "blocked": [_blocked_json(b) for b in plan.blocked],
        "gates": gates,
        "notes": list(plan.notes),
    }


def outcomes_text(outcomes: Sequence[ActionOutcome]) -> str:
    """What a cycle did."""
    if not outcomes:
        return "nothing to do\n"
    return "".join(f"{'ok' if o.ok else 'FAILED'}: {o.detail}\n" for o in outcomes)


def status_rows(policy: Policy, snap: Snapshot, plan: Plan, now: datetime) -> list[dict[str, Any]]:
    """Per app and environment: desired, live, drift, gates, request, blocked."""
    rows = []
    for env in policy.ordered():
        for app in policy.apps_in(env.name):
            key = (app.name, env.name)
            overlay = snap.overlays.get(key)
            desired = overlay.pin.digest if overlay and overlay.pin and overlay.pin.digest else None
            live = snap.live.get(key)
            judged = drift.drift(
                drift.Pinned(desired, overlay.changed_at if overlay else None),
                drift.Running(live.digest, live.since, live.rolling) if live else None,
            )
            held = snap.requests.get(key)
            rows.append(
                {
                    "app": app.name,
                    "env": env.name,
                    "desired": desired,
                    "live": live.digest if live else None,
                    "drift": judged.drifted if judged.known else None,
                    "drift_seconds": judged.seconds(now),
                    "gates": {r.gate: r.passed for a, e, r in plan.gates if (a, e) == key},
                    "request": held.request.number if held else None,
                    "blocked": [b.reason for b in plan.blocked if (b.app, b.env) == key],
                    "error": overlay.error if overlay else None,
                }
            )
    return rows


_WIDTHS = (20, 10, 16, 16, 6, 8)


def status_text(rows: list[dict[str, Any]]) -> str:
    """The status as a table."""

    def short(digest: str | None) -> str:
        return short_digest(digest) if digest else "-"

    out = [
        f"{'APP':<20} {'ENV':<10} {'DESIRED':<16} {'LIVE':<16} {'DRIFT':<6} {'REQUEST':<8} BLOCKED"
    ]
    for row in rows:
        drift_text = "-" if row["drift"] is None else ("yes" if row["drift"] else "no")
        request = f"#{row['request']}" if row["request"] else "-"
        blocked = "; ".join(row["blocked"]) or (row["error"] or "")
        cells = (
            row["app"],
            row["env"],
            short(row["desired"]),
            short(row["live"]),
            drift_text,
            request,
        )
        out.append(
            " ".join(f"{c:<{w}}" for c, w in zip(cells, _WIDTHS, strict=True)) + f" {blocked}"
        )
    return "\n".join(out) + "\n"
