"""Accepted webhook deliveries told to the other replicas (``--peers``), in the background.

A Service hands a GitHub delivery to one replica, and that replica cannot tell which apps
it touches (a review, a check suite), so every peer is told and cycles for its own apps. A
peer that cannot be reached is logged and counted, never retried and never a reason to
fail the delivery: a replica cycles when it starts, and polls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Literal, Protocol

from reconciler.httpclient.errors import HttpError
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.webhooks import FORWARD_PATH, Forward, describe, forward_message

log = logging.getLogger("reconciler.webhook")

# Peers answer at once (they only trigger a cycle); a slow one is as good as down.
FORWARD_TIMEOUT = timedelta(seconds=5)
# Deliveries waiting to be forwarded; beyond it they are dropped (counted), not queued.
QUEUE_CAPACITY = 256
Result = Literal["ok", "duplicate", "refused", "failed", "dropped"]


class Sender(Protocol):
    """What sends the forwards: reconciler.httpclient's HttpClient."""

    def send_all(
        self, requests: Sequence[HttpRequest], *, concurrency: int = 32
    ) -> list[HttpResponse | HttpError]: ...


def outcome(answer: HttpResponse | HttpError) -> tuple[Result, str]:
    """What a peer's answer means: (result, why) for the metric and the log line."""
    if isinstance(answer, HttpError):
        return "failed", f"{answer.kind}: {answer}"
    if answer.status == 202:
        return "ok", "accepted"
    if answer.status == 200:
        return "duplicate", "already handled"
    said = answer.body[:200].decode(errors="replace").strip().splitlines()
    why = f"HTTP {answer.status}" + (f": {said[0]}" if said else "")
    return ("refused" if 400 <= answer.status < 500 else "failed"), why


def peer_label(url: str) -> str:
    """``host:port`` of a peer's base URL: its ``peer`` label, bounded by ``--peers``."""
    return urllib.parse.urlsplit(url).netloc


class Forwarder:
    """Forwards deliveries to ``peers`` from one worker thread; ``submit`` never blocks."""

    def __init__(
        self,
        peers: Sequence[str],
        secret: bytes,
        sender: str,
        *,
        client: Sender,
        count: Callable[[str, Result], None],
        clock: Callable[[], float] = time.time,
        capacity: int = QUEUE_CAPACITY,
    ) -> None:
        """``sender``: this replica's ``--shard``; ``count(peer label, result)`` per peer."""
        self.peers = tuple(peers)
        self._secret = secret
        self._sender = sender
        self._client = client
        self._count = count
        self._clock = clock
        self._queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._work, name="webhook-forward", daemon=True)

    def start(self) -> Forwarder:
        """Start the worker; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Let the worker finish the forward in flight, then end it (queued ones are left)."""
        if self._thread.ident is None:
            return
        while True:
            try:
                self._queue.get_nowait()  # the rest go: their peers poll, and stop soon too
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join(timeout=FORWARD_TIMEOUT.total_seconds() + 1)

    def submit(self, delivery: str, event: str, reason: str) -> None:
        """Queue an accepted delivery for the peers; dropped (counted, logged) when full."""
        try:
            self._queue.put_nowait((delivery, event, reason))
        except queue.Full:
            for peer in self.peers:
                self._count(peer_label(peer), "dropped")
            log.warning(
                "webhook %s: not forwarded, %d deliveries already wait; the peers see it at "
                "their next poll",
                describe({"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}),
                self._queue.maxsize,
                extra={"event": "webhook-forward", "delivery": delivery, "dropped": True},
            )

    def send(self, delivery: str, event: str, reason: str) -> list[tuple[str, Result, str]]:
        """Forward one delivery to every peer now: (peer, result, why) in ``peers`` order."""
        forward = Forward(delivery, event, reason, self._sender, int(self._clock()))
        body, headers = forward_message(self._secret, forward)
        requests = [
            HttpRequest("POST", peer + FORWARD_PATH, headers, body, FORWARD_TIMEOUT, 4096, "none")
            for peer in self.peers
        ]
        answers = self._client.send_all(requests, concurrency=max(len(requests), 1))
        results = []
        for peer, answer in zip(self.peers, answers, strict=True):
            result, why = outcome(answer)
            self._count(peer_label(peer), result)
            results.append((peer, result, why))
        self._report(forward, results)
        return results

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.send(*item)
            except Exception as exc:  # the worker must outlive any one forward
                shown = describe({"X-GitHub-Event": item[1], "X-GitHub-Delivery": item[0]})
                log.error("webhook %s: forwarding failed: %s", shown, type(exc).__name__)

    def _report(self, forward: Forward, results: list[tuple[str, Result, str]]) -> None:
        missed = [(peer, why) for peer, result, why in results if result in ("refused", "failed")]
        extra = {
            "event": "webhook-forward",
            "delivery": forward.delivery,
            "peers": {peer_label(peer): result for peer, result, _ in results},
        }
        described = describe(
            {"X-GitHub-Event": forward.event, "X-GitHub-Delivery": forward.delivery}
        )
        if not missed:
            log.info("webhook %s: forwarded to %d peers", described, len(results), extra=extra)
            return
        log.warning(
            "webhook %s: forwarded to %d of %d peers; not reached: %s; they see it at their "
            "next poll",
            described,
            len(results) - len(missed),
            len(results),
            "; ".join(f"{peer_label(peer)} ({why})" for peer, why in missed),
            extra=extra,
        )
