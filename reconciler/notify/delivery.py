"""Sending: one thread per sink posts its messages over the project's HTTP client, retrying
with backoff a bounded number of times; every attempt is counted, none is logged with the
sink's URL (it is a credential: only the sink's name, the event and a status show).

A receiver that hangs holds only its own sink's thread, each attempt bounded by the sink's
timeout; a stop cancels the attempt in flight and ends the thread.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reconciler.clock import utc_now
from reconciler.errors import PermanentError
from reconciler.httpclient.addresses import is_http
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import HttpError, HttpTimeout
from reconciler.httpclient.messages import HttpRequest
from reconciler.notify.outbox import Result
from reconciler.policy.notify import NotifySink, SecretRef, WebhookSink

log = logging.getLogger("reconciler.notify")
# Counted per attempt: sent, error (a 5xx or no answer), timeout, rate-limited (429),
# rejected (another 4xx: not retried), no-secret (the URL or key could not be read),
# expired (the claim ran out while the message waited: not sent by this replica).
Counter = Callable[[str, str, str], None]  # (sink, event, result)
Done = Callable[[str, str, Result], None]  # (sink, event id, result)


@dataclass(frozen=True)
class Retry:
    """How one event is retried within a round: attempts, the waits between them, and the
    longest Retry-After honoured."""

    attempts: int = 3
    backoff: tuple[float, ...] = (1.0, 4.0)  # seconds before the 2nd, 3rd... attempt
    retry_after_max: float = 30.0
    queue: int = 200  # messages waiting per sink; more are claimed in a later cycle


@dataclass(frozen=True, repr=False)
class Outgoing:
    """One message for one sink: the event's id and kind, the body and its headers."""

    event_id: str
    kind: str
    body: bytes
    headers: Mapping[str, str]
    sign: Callable[[bytes], Mapping[str, str]] | None = None  # headers made at send time
    # The claim's end: no attempt starts that could end after it, since another replica
    # may then take the claim over and send the event too.
    lease_until: datetime | None = None


def reveal(ref: SecretRef, environ: Mapping[str, str] = os.environ) -> str:
    """The secret ``ref`` names, read now; PermanentError naming only where it was looked for."""
    if ref.source == "env":
        value = environ.get(ref.name, "").strip()
    else:
        try:
            value = Path(ref.name).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise PermanentError(f"cannot read {ref}: {error.strerror or 'unreadable'}") from None
    if not value:
        raise PermanentError(f"{ref} is empty or unset")
    return value


def unreadable(sink: NotifySink, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why ``sink`` cannot be sent to now (its URL or key unset or unreadable, or not an
    http(s) URL), or None; never the values themselves (`reconciler doctor`)."""
    try:
        url = reveal(sink.url_from, environ)
        if isinstance(sink, WebhookSink):
            reveal(sink.secret_from, environ)
    except PermanentError as error:
        return str(error)
    if not is_http(url):
        return f"{sink.url_from} does not hold an http(s) URL"
    return None


class SinkSender:
    """The thread that sends one sink's messages, one at a time, in order."""

    def __init__(  # noqa: PLR0913 its collaborators, all keyword-only
        self,
        sink: NotifySink,
        client: HttpClient,
        *,
        count: Counter,
        done: Done,
        retry: Retry,
        stop: threading.Event,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.sink = sink
        self._clock = clock
        self._client = client
        self._count = count
        self._done = done
        self._retry = retry
        self.stop = stop
        # Set when the daemon stops: each message left gets one attempt, no backoff.
        self.draining = threading.Event()
        self._environ = environ
        self._queue: queue.Queue[Outgoing] = queue.Queue(retry.queue)
        self._thread = threading.Thread(target=self._run, name=f"notify-{sink.name}", daemon=True)
        self._thread.start()

    def room(self) -> int:
        """How many more messages may be queued now."""
        return max(0, self._retry.queue - self._queue.qsize())

    def put(self, message: Outgoing) -> None:
        """Queue ``message``; one that does not fit fails its round (sent again later)."""
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self._done(self.sink.name, message.event_id, "failed")

    def join(self, seconds: float) -> None:
        """Wait for the thread to end (after ``stop`` is set)."""
        self._thread.join(seconds)

    def idle(self) -> bool:
        """Nothing queued and nothing being sent."""
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                message = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self._done(self.sink.name, message.event_id, self._deliver(message))
            finally:
                self._queue.task_done()

    def _deliver(self, message: Outgoing) -> Result:
        name = self.sink.name
        try:
            url = reveal(self.sink.url_from, self._environ)
            headers = dict(message.headers)
            if message.sign is not None:
                headers.update(message.sign(message.body))
        except PermanentError as error:
            self._count(name, message.kind, "no-secret")
            log.warning("notify %s: %s; %s not sent", name, error, message.event_id)
            return "failed"
        for attempt in range(self._retry.attempts):
            if message.lease_until and self._clock() + self.sink.timeout >= message.lease_until:
                self._count(name, message.kind, "expired")
                log.warning(
                    "notify %s: the claim on %s ran out before it could be sent; whoever "
                    "sees it next sends it",
                    name,
                    message.event_id,
                    extra={"event": "notify-expired", "sink": name},
                )
                return "failed"
            request = HttpRequest(
                "POST",
                url,
                headers,
                message.body,
                timeout=self.sink.timeout,
                max_body_bytes=65_536,
                redirects="none",
            )
            answer = self._client.send_within([request], concurrency=1, stopping=self.stop.is_set)
            outcome = answer[0]
            if outcome is None:  # stopping: the attempt was cut short
                return "failed"
            wait = self._retry.backoff[min(attempt, len(self._retry.backoff) - 1)]
            if isinstance(outcome, HttpError):
                result = "timeout" if isinstance(outcome, HttpTimeout) else "error"
                shown = result if result == "timeout" else type(outcome).__name__
            elif 200 <= outcome.status < 300:
                self._count(name, message.kind, "sent")
                return "sent"
            elif outcome.status == 429:
                result, shown = "rate-limited", "HTTP 429"
                wait = max(wait, _retry_after(outcome.header("retry-after")))
                wait = min(wait, self._retry.retry_after_max)
            elif outcome.status >= 500 or outcome.status == 408:
                result, shown = "error", f"HTTP {outcome.status}"
            else:
                self._count(name, message.kind, "rejected")
                log.warning(
                    "notify %s: HTTP %d for %s; not retried (check the sink's URL)",
                    name,
                    outcome.status,
                    message.event_id,
                    extra={"event": "notify-rejected", "sink": name, "status": outcome.status},
                )
                return "rejected"
            self._count(name, message.kind, result)
            last = attempt == self._retry.attempts - 1 or self.draining.is_set()
            log.info(
                "notify %s: %s for %s%s",
                name,
                shown,
                message.event_id,
                "" if last else f"; trying again in {wait:g}s",
                extra={"event": "notify-retry", "sink": name, "result": result},
            )
            if last or self.draining.wait(wait):
                break
        return "failed"


def _retry_after(value: str | None) -> float:
    """Seconds a Retry-After header asks for (delta-seconds only); 0 when absent or a date."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
