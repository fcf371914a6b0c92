"""The outbox: which events each sink was sent, or is being sent and by whom (pure).

One JSON file per sink on the branch ``reconciler/notifications`` of the config repo
(reconciler.notify.store) maps event ids to entries. A replica *claims* an event by
writing an entry naming itself with a lease, in a push that is a compare-and-swap (the
git port runs the edit again on the new tip after a lost race), so of several replicas one
claims it; it sends, then marks it ``sent``. A claim whose lease ran out unconfirmed (a
crash, a receiver that kept failing) is claimed again by whoever sees it next, up to
``MAX_ROUNDS`` rounds; then it is ``abandoned``. Finished entries are kept ``RETAIN`` and
while their event is still derived, so an event is never told twice; at most ``MAX_ENTRIES``
per sink.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from reconciler.errors import PermanentError
from reconciler.notify.events import Event, parse_time

FORMAT = 1
DIR = ".reconciler/notifications"
MAX_ROUNDS = 5
RETAIN = timedelta(days=7)
MAX_ENTRIES = 2000
EntryState = Literal["claimed", "sent", "abandoned"]
Result = Literal["sent", "failed", "rejected"]


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One event for one sink: its state, who holds the claim and until when."""

    event: Event
    state: EntryState
    by: str  # the replica holding (or that last held) the claim
    lease_until: datetime
    rounds: int  # delivery rounds begun
    recorded: datetime
    done_at: datetime | None = None


@dataclass(frozen=True)
class Timing:
    """How long a claim holds, and how long a failed round waits before the next."""

    lease: timedelta = timedelta(minutes=10)
    retry: timedelta = timedelta(minutes=1)  # doubled each round


@dataclass(frozen=True)
class Claimed:
    """An entry this replica claimed now: to be sent to ``sink``."""

    sink: str
    entry: Entry


def path_of(sink: str) -> str:
    """The record file of ``sink`` on the notifications branch."""
    return f"{DIR}/{sink}.json"


def advance(  # noqa: PLR0913 the outbox's whole step, all inputs named
    entries: Mapping[str, Entry],
    sink: str,
    events: Iterable[Event],
    results: Mapping[str, Result],
    *,
    me: str,
    now: datetime,
    timing: Timing,
    room: int,
    derived: frozenset[str] = frozenset(),
    apps: frozenset[str] | None = None,
) -> tuple[dict[str, Entry], list[Claimed]]:
    """One sink's outbox after this replica's step: ``results`` of its sends confirmed,
    new ``events`` claimed, expired claims taken over, old entries pruned; and the entries
    it claimed now (at most ``room``), to send.

    ``derived``: the ids this replica derived now (kept however old); ``apps``: the apps it
    derives events for (a shard's), whose old entries alone it prunes; None: all."""
    out = dict(entries)
    for event_id, result in results.items():
        entry = out.get(event_id)
        if entry is None or entry.state != "claimed":
            continue
        if result == "sent":
            out[event_id] = dataclasses.replace(entry, state="sent", done_at=now)
        elif result == "rejected" or entry.rounds >= MAX_ROUNDS:
            out[event_id] = dataclasses.replace(entry, state="abandoned", done_at=now)
        else:  # failed: the next round after a backoff, by whoever sees it then
            wait = timing.retry * (2 ** (entry.rounds - 1))
            out[event_id] = dataclasses.replace(entry, lease_until=now + wait)
    claimed: list[Claimed] = []
    for event_id, entry in sorted(out.items(), key=lambda item: item[1].recorded):
        if entry.state != "claimed" or entry.lease_until > now or len(claimed) >= room:
            continue
        if entry.rounds >= MAX_ROUNDS:
            out[event_id] = dataclasses.replace(entry, state="abandoned", done_at=now)
            continue
        taken = dataclasses.replace(
            entry, by=me, lease_until=now + timing.lease, rounds=entry.rounds + 1
        )
        out[event_id] = taken
        claimed.append(Claimed(sink, taken))
    for event in events:
        if event.id in out or len(claimed) >= room:
            continue
        entry = Entry(
            event=event,
            state="claimed",
            by=me,
            lease_until=now + timing.lease,
            rounds=1,
            recorded=now,
        )
        out[event.id] = entry
        claimed.append(Claimed(sink, entry))
    return _pruned(out, now, derived, apps), claimed


def release(entries: Mapping[str, Entry], me: str, now: datetime) -> dict[str, Entry]:
    """``entries`` with this replica's unconfirmed claims left for the next one at once (a
    stopping daemon: a restart need not wait out the lease)."""
    return {
        key: dataclasses.replace(entry, lease_until=now)
        if entry.state == "claimed" and entry.by == me and entry.lease_until > now
        else entry
        for key, entry in entries.items()
    }


def _pruned(
    entries: dict[str, Entry], now: datetime, derived: frozenset[str], apps: frozenset[str] | None
) -> dict[str, Entry]:
    def old(entry: Entry) -> bool:
        # Another shard's app: that shard alone knows whether its event still holds.
        ours = apps is None or entry.event.app in apps
        return ours and entry.done_at is not None and now - entry.done_at > RETAIN

    kept = {k: e for k, e in entries.items() if not (old(e) and k not in derived)}
    if len(kept) <= MAX_ENTRIES:
        return kept
    finished = sorted(
        (k for k, e in kept.items() if e.done_at is not None), key=lambda k: kept[k].recorded
    )
    for key in finished[: len(kept) - MAX_ENTRIES]:
        del kept[key]
    return kept


def encode(sink: str, entries: Mapping[str, Entry]) -> bytes:
    """The record file's bytes: stable key order, one entry per line-ish (indented)."""
    document = {
        "format": FORMAT,
        "sink": sink,
        "events": {key: _entry_json(entries[key]) for key in sorted(entries)},
    }
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def decode(data: bytes, where: str) -> dict[str, Entry]:
    """The entries in a record file; PermanentError naming ``where`` when it is damaged."""
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT:
            raise ValueError(f"format {document.get('format')!r}, expected {FORMAT}")
        return {str(k): _entry(v) for k, v in document["events"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PermanentError(
            f"{where} cannot be read ({type(error).__name__}: {error}); nothing is sent to "
            "this sink until it is repaired or deleted (deleting it may send recent events "
            "again)"
        ) from None


def _entry_json(entry: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event": entry.event.to_json(),
        "state": entry.state,
        "by": entry.by,
        "lease_until": _iso(entry.lease_until),
        "rounds": entry.rounds,
        "recorded": _iso(entry.recorded),
    }
    if entry.done_at is not None:
        out["done_at"] = _iso(entry.done_at)
    return out


def _entry(data: Mapping[str, Any]) -> Entry:
    state = data["state"]
    if state not in ("claimed", "sent", "abandoned"):
        raise ValueError(f"unknown state {state!r}")
    rounds = data["rounds"]
    if not isinstance(rounds, int):
        raise TypeError("rounds is not a number")
    return Entry(
        event=Event.from_json(data["event"]),
        state=state,
        by=str(data["by"]),
        lease_until=parse_time(data["lease_until"]),
        rounds=rounds,
        recorded=parse_time(data["recorded"]),
        done_at=parse_time(data["done_at"]) if "done_at" in data else None,
    )


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
