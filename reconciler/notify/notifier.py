"""After each cycle: derive the events, record and claim them in the outbox (one push), and
hand the claimed ones to the sinks' sender threads; the results are confirmed in the outbox
at the next cycle, or when the daemon stops.

Every git write happens on the thread that runs cycles (and, at the end, the one that
stops the daemon), never on a sender thread: the git port is not shared between threads.
A receiver that is slow or hangs delays only its own sink's thread.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.errors import ReconcilerError
from reconciler.httpclient.client import HttpClient
from reconciler.notify import generic, outbox, slack, teams
from reconciler.notify.delivery import Counter, Outgoing, Retry, SinkSender, reveal
from reconciler.notify.events import Event, derive, resolved, wanted
from reconciler.notify.outbox import Claimed, Entry, Result
from reconciler.notify.store import OutboxStore
from reconciler.policy.notify import NotifySink, SlackSink, TeamsSink

if TYPE_CHECKING:
    from reconciler.cycle import CycleReport

log = logging.getLogger("reconciler.notify")
# What a cycle did, told once: lost if the outbox cannot be written before the process ends.
_DONE_KINDS = frozenset({"opened", "updated", "merged", "live"})
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class NotifyTiming:
    """The outbox's lease and round backoff, and each round's retries."""

    outbox: outbox.Timing = field(default_factory=outbox.Timing)
    retry: Retry = field(default_factory=Retry)
    stop_seconds: float = 5.0  # how long a stop waits for the sender threads


class Notifier:
    """Tells the policy's sinks what each cycle did and what holds, once per event."""

    def __init__(
        self,
        store: OutboxStore,
        client: HttpClient,
        clock: Callable[[], datetime],
        *,
        count: Counter,
        timing: NotifyTiming | None = None,
        replica: str | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        """``replica``: this process's name in claims (default: host and a random suffix)."""
        self._store = store
        self._client = client
        self._clock = clock
        self._count = count
        self._timing = timing or NotifyTiming()
        self.replica = replica or f"{os.uname().nodename}-{uuid.uuid4().hex[:8]}"
        self._environ = environ
        self._stop = threading.Event()
        self._senders: dict[str, SinkSender] = {}
        self._lock = threading.Lock()
        self._results: dict[str, dict[str, Result]] = {}  # sink -> event id -> result
        self._carry: tuple[Event, ...] = ()  # done-events not yet recorded
        self._sinks: Mapping[str, NotifySink] = {}

    def after_cycle(self, report: CycleReport) -> None:
        """Record and claim this cycle's events and confirm earlier sends (one push)."""
        policy = report.observation.policy
        if policy is None or self._stop.is_set():
            return
        now = self._clock()
        self._sinks = policy.notify
        self._keep_senders(policy.notify)
        results = self._take_results()
        if not policy.notify and not results:
            return
        snapshot = report.observation.snapshot
        events = (*derive(policy, snapshot, report.plan, report.outcomes, now), *self._carry)
        derived = frozenset(e.id for e in events)
        apps = frozenset(policy.apps)
        # A claim must outlast the next cycle, which confirms it: else another replica
        # could take it over and send it again before this one says it was sent.
        timing = dataclasses.replace(
            self._timing.outbox,
            lease=max(self._timing.outbox.lease, 3 * policy.settings.poll_interval),
        )
        claimed: list[Claimed] = []

        def change(read: Callable[[str], dict[str, Entry]]) -> dict[str, dict[str, Entry]]:
            claimed.clear()
            changed: dict[str, dict[str, Entry]] = {}
            for name, sink in policy.notify.items():
                entries = read(name)
                told = [e.event for e in entries.values() if e.state == "sent"]
                news = [
                    e for e in (*events, *resolved(told, snapshot, now)) if wanted(sink, e, now)
                ]
                sender = self._senders[name]
                new, mine = outbox.advance(
                    entries,
                    name,
                    news,
                    results.get(name, {}),
                    me=self.replica,
                    now=now,
                    timing=timing,
                    room=sender.room(),
                    derived=derived | {e.id for e in news},
                    apps=apps,
                )
                if new != entries:
                    changed[name] = new
                claimed.extend(mine)
            return changed

        try:
            self._store.update(change, _message(claimed, results))
        except ReconcilerError as error:
            log.warning(
                "notifications not recorded: %s; it will be tried again next cycle",
                error,
                extra={"event": "notify-record-failed"},
            )
            self._give_back(results)
            # By id: while the outbox stays unwritable, each cycle adds only what is new.
            self._carry = tuple({e.id: e for e in events if e.kind in _DONE_KINDS}.values())
            return
        self._carry = ()
        for claim in claimed:
            self._send(claim)

    def close(self) -> None:
        """Let the senders try once more what is queued, without backoff (for
        ``stop_seconds`` at most), stop them (cancelling attempts in flight), then confirm
        what was sent and leave this replica's unsent claims to the next daemon at once."""
        self._stop.set()
        for sender in self._senders.values():
            sender.draining.set()
        deadline = time.monotonic() + self._timing.stop_seconds
        while time.monotonic() < deadline and not all(s.idle() for s in self._senders.values()):
            threading.Event().wait(0.02)  # no signal to wait on: the queues say when done
        for sender in self._senders.values():
            sender.stop.set()
        for sender in self._senders.values():
            sender.join(self._timing.stop_seconds)
        results = self._take_results()
        if not self._sinks:
            return
        now = self._clock()

        def change(read: Callable[[str], dict[str, Entry]]) -> dict[str, dict[str, Entry]]:
            changed = {}
            for name in self._sinks:
                entries = read(name)
                new, _ = outbox.advance(
                    entries,
                    name,
                    (),
                    results.get(name, {}),
                    me=self.replica,
                    now=now,
                    timing=self._timing.outbox,
                    room=0,
                    derived=frozenset(entries),
                )
                new = outbox.release(new, self.replica, now)
                if new != entries:
                    changed[name] = new
            return changed

        try:
            self._store.update(change, _message([], results, stopping=True))
        except ReconcilerError as error:
            log.warning(
                "notifications sent before the stop not recorded: %s (they may be sent again)",
                error,
                extra={"event": "notify-record-failed"},
            )
        except Exception as error:  # a stop must end: the next daemon sends them again
            # Only the type: a library's message may quote a URL with a token.
            log.warning(
                "notifications sent before the stop not recorded (%s; they may be sent again)",
                type(error).__name__,
                extra={"event": "notify-record-failed"},
            )

    def _send(self, claim: Claimed) -> None:
        sink = self._sinks[claim.sink]
        event = claim.entry.event
        if isinstance(sink, SlackSink):
            body = _json(slack.message(event))
            sign = None
        elif isinstance(sink, TeamsSink):
            body = _json(teams.message(event))
            sign = None
        else:
            body = generic.body(event)
            secret = sink.secret_from
            environ = self._environ

            def sign(data: bytes) -> Mapping[str, str]:
                key = reveal(secret, environ).encode()
                return {generic.SIGNATURE_HEADER: generic.signature(key, data)}

        headers = dict(_JSON)
        if not isinstance(sink, (SlackSink, TeamsSink)):
            headers[generic.EVENT_HEADER] = event.kind
        self._senders[claim.sink].put(
            Outgoing(event.id, event.kind, body, headers, sign, claim.entry.lease_until)
        )

    def _keep_senders(self, sinks: Mapping[str, NotifySink]) -> None:
        for name in list(self._senders):
            if sinks.get(name) != self._senders[name].sink:
                # The sink changed or went: its queue is dropped (the claims run out and are
                # taken again under the new settings).
                replaced = self._senders.pop(name)
                replaced.draining.set()
                replaced.stop.set()
        for name, sink in sinks.items():
            if name not in self._senders:
                self._senders[name] = SinkSender(
                    sink,
                    self._client,
                    count=self._count,
                    done=self._done,
                    retry=self._timing.retry,
                    stop=threading.Event(),
                    environ=self._environ,
                    clock=self._clock,
                )

    def _done(self, sink: str, event_id: str, result: Result) -> None:
        with self._lock:
            self._results.setdefault(sink, {})[event_id] = result
        if result != "sent":
            return
        log.info(
            "notified %s: %s",
            sink,
            event_id,
            extra={"event": "notified", "sink": sink, "id": event_id},
        )

    def _take_results(self) -> dict[str, dict[str, Result]]:
        with self._lock:
            results, self._results = self._results, {}
        return results

    def _give_back(self, results: dict[str, dict[str, Result]]) -> None:
        with self._lock:
            for sink, by_id in results.items():
                self._results.setdefault(sink, {}).update(
                    {k: v for k, v in by_id.items() if k not in self._results.get(sink, {})}
                )


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _message(
    claimed: Sequence[Claimed],
    results: Mapping[str, Mapping[str, Result]],
    *,
    stopping: bool = False,
) -> str:
    sent = sum(1 for by_id in results.values() for r in by_id.values() if r == "sent")
    parts = [f"claimed {len(claimed)}", f"sent {sent}"]
    if stopping:
        parts.append("daemon stopping")
    return "notifications: " + ", ".join(parts)
