"""Plans and status as people and scripts read them (`reconciler plan`, `reconciler status`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from reconciler import overview
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


def _when(moment: datetime | None) -> str:
    return stamp(moment) if moment else "-"


def describe_action(action: object) -> str:
    """One line for an action."""
    if isinstance(action, Propose):
        verb = f"update #{action.number}" if action.number is not None else "open request"
        return f"{verb}: {action.title} ({', '.join(action.files or (action.path,))})"
    if isinstance(action, CommitDirect):
        digest = short_digest(action.pin.digest)
        where = " and ".join(action.files or (action.path,))
        return f"commit to base: pin {action.app.name} {digest} in {where}"
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
    return {"app": blocked.app, "env": blocked.env, **overview.blocked_json(blocked)}


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan for scripts."""
    actions = []
    for action in plan.actions:
        app, env = action_key(action)
        entry: dict[str, Any] = {"app": app, "env": env, "kind": type(action).__name__.lower()}
        if isinstance(action, (Propose, CommitDirect)):
            entry |= {"digest": action.pin.digest, "path": action.path, "source": action.source}
            if action.files:  # a unit's part files: every file the edit changes
                entry["files"] = list(action.files)
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
