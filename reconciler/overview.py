"""The status view: per app and environment, what is pinned, what runs, what waits and why.

One JSON document (``VERSION``), made by the daemon after each cycle (served at
``GET /status``) and by `reconciler status` from git and the live sources when no daemon is
asked. The document says where it comes from and whether gates were sampled for it, so a
reader never mistakes a view without samples for the daemon's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from reconciler import drift
from reconciler.actions import Blocked, Plan
from reconciler.clock import parse_moment
from reconciler.gates import GateResult
from reconciler.gates.results import span, stamp
from reconciler.model import short as short_digest
from reconciler.policy import Policy
from reconciler.snapshot import Key, Snapshot

VERSION = 1
SAMPLED = ("http", "checks")  # the gate kinds a one-shot process samples only with --probe
Source = Literal["daemon", "repo"]


def _when(moment: datetime | None) -> str | None:
    return stamp(moment) if moment else None


@dataclass(frozen=True)
class Origin:
    """Where a view comes from: the daemon's last cycle, or this process reading the repo.

    ``probed``: the HTTP gates were sampled for it. ``cycle``: how many cycles the daemon
    had finished (None for a view of the repo).
    """

    source: Source
    probed: bool
    cycle: int | None = None


def document(
    policy: Policy, snap: Snapshot, plan: Plan, now: datetime, origin: Origin
) -> dict[str, Any]:
    """The whole view at ``now``, as scripts and `reconciler status --daemon` read it."""
    return {
        "version": VERSION,
        "source": origin.source,
        "cycle": origin.cycle,
        "generated_at": stamp(now),
        "commit": snap.base_commit,
        "base_branch": snap.base_branch,
        "probed": origin.probed,
        "notes": list(plan.notes),
        "rows": rows(policy, snap, plan, now),
    }


def rows(policy: Policy, snap: Snapshot, plan: Plan, now: datetime) -> list[dict[str, Any]]:
    """Per app and environment: desired, live and since when, drift, gates, request, blocked."""
    results: dict[Key, list[GateResult]] = {}
    for pair_app, pair_env, result in plan.gates:
        results.setdefault((pair_app, pair_env), []).append(result)
    blocked: dict[Key, list[Blocked]] = {}
    for item in plan.blocked:
        blocked.setdefault((item.app, item.env), []).append(item)
    out = []
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
            out.append(
                {
                    "app": app.name,
                    "env": env.name,
                    "desired": desired,
                    "live": live.digest if live else None,
                    "live_since": _when(live.since) if live and live.digest else None,
                    "drift": judged.drifted if judged.known else None,
                    "drift_seconds": judged.seconds(now),
                    "gates": [_gate(r) for r in results.get(key, ())],
                    "request": held.request.number if held else None,
                    "blocked": [blocked_json(b) for b in blocked.get(key, ())],
                    "error": overlay.error if overlay else None,
                }
            )
    return out


def _gate(result: GateResult) -> dict[str, Any]:
    return {
        "gate": result.gate,
        "kind": result.kind,
        "passed": result.passed,
        "code": result.code,
        "reason": result.reason,
        "since": _when(result.since),
        "until": _when(result.until),
    }


def blocked_json(item: Blocked) -> dict[str, Any]:
    """Why a promotion waits, for scripts: code, reason, since and until."""
    return {
        "code": item.code,
        "reason": item.reason,
        "since": _when(item.since),
        "until": _when(item.until),
    }


_WIDTHS = (20, 10, 16, 16, 6, 8)


def text(view: dict[str, Any], now: datetime, *, address: str | None = None) -> str:
    """The view as a table, under one line saying where it comes from and how fresh."""
    return heading(view, now, address) + "\n" + table(view["rows"])


def heading(view: dict[str, Any], now: datetime, address: str | None) -> str:
    """Where the view comes from, and whether its gates were sampled."""
    commit = str(view["commit"])[:12]
    if view["source"] == "daemon":
        made = parse_moment(view["generated_at"]) or now
        age = span(max(now - made, timedelta(0)))
        where = f" at {address}" if address else ""
        return f"the daemon's view{where}: cycle {view['cycle']} at commit {commit}, made {age} ago"
    if not view["probed"]:
        sampled = (
            "HTTP and checks gates not sampled (--probe samples them; --daemon URL shows "
            "the daemon's)"
        )
    elif any(g["kind"] in SAMPLED for row in view["rows"] for g in row["gates"]):
        sampled = "gates sampled now (--probe)"
    else:  # nothing to sample: the view is whole without --probe
        sampled = "no HTTP or checks gate to sample"
    return f"read from the config repo at commit {commit} and the live sources; {sampled}"


def table(found: list[dict[str, Any]]) -> str:
    """The rows as columns; blocked reasons (or the overlay's error) last."""

    def short(digest: str | None) -> str:
        return short_digest(digest) if digest else "-"

    rows = []
    for row in found:
        drift_text = "-" if row["drift"] is None else ("yes" if row["drift"] else "no")
        request = f"#{row['request']}" if row["request"] else "-"
        blocked = "; ".join(b["reason"] for b in row["blocked"]) or (row["error"] or "")
        cells = (
            row["app"],
            row["env"],
            short(row["desired"]),
            short(row["live"]),
            drift_text,
            request,
        )
        rows.append((cells, blocked))
    # A digest column widens for an app of several images (a short digest per part).
    digests = max((len(c[i]) for c, _ in rows for i in (2, 3)), default=0)
    widths = tuple(max(w, digests) if i in (2, 3) else w for i, w in enumerate(_WIDTHS))
    header = ("APP", "ENV", "DESIRED", "LIVE", "DRIFT", "REQUEST")
    out = [" ".join(f"{c:<{w}}" for c, w in zip(header, widths, strict=True)) + " BLOCKED"]
    for cells, blocked in rows:
        out.append(
            " ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)) + f" {blocked}"
        )
    return "\n".join(out) + "\n"


class Latest:
    """The daemon's last finished cycle, kept to be shown on request (GET /status).

    Only references are kept (frozen values, swapped whole), so a cycle pays nothing to
    publish and a reader on another thread sees one cycle or the next, never a mix.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[Policy, Snapshot, Plan, int] | None = None
        self._cycles = 0
        self._encoding = threading.Lock()
        self._encoded: tuple[int, bytes] | None = None  # the cycle, its view as JSON

    def publish(self, policy: Policy | None, snap: Snapshot, plan: Plan) -> None:
        """A cycle finished with this policy, snapshot and plan (no policy: nothing to show)."""
        with self._lock:
            self._cycles += 1
            if policy is not None:
                self._held = (policy, snap, plan, self._cycles)

    def document(self, now: datetime) -> dict[str, Any] | None:
        """The view of the last cycle that had a policy; None before there is one."""
        held = self._held
        if held is None:
            return None
        policy, snap, plan, cycle = held
        return document(policy, snap, plan, now, Origin("daemon", probed=True, cycle=cycle))

    def encoded(self, now: Callable[[], datetime]) -> bytes | None:
        """The last cycle's view as JSON, made at the first request after the cycle (at
        ``now()``, which its ``generated_at`` says) and kept until the next one: 30,000
        rows take a second to build and encode, and a request beside a busy cycle far longer.
        """
        with self._encoding:
            held = self._held
            if held is None:
                return None
            kept = self._encoded
            if kept is not None and kept[0] == held[3]:
                return kept[1]
            policy, snap, plan, cycle = held
            origin = Origin("daemon", probed=True, cycle=cycle)
            body = json.dumps(document(policy, snap, plan, now(), origin)).encode()
            self._encoded = (cycle, body)
            return body
