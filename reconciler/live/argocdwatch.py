"""Argo CD's Applications kept current in memory by one stream, ``GET
/api/v1/stream/applications``, read in a daemon thread.

What Argo CD sends (argoproj/argo-cd server/application/application.go, ``Watch``): on
connecting without ``resourceVersion``, every application the token may see as ``ADDED``,
then each change; a ``resourceVersion`` replays nothing missed, so every connection starts
without one and its first events are the new list. Applications it has not told on the
open stream (or on the last one, within ``max_age`` of its end) are not known here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from reconciler.httpclient.addresses import safe_url
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import HttpError
from reconciler.httpclient.messages import HttpRequest
from reconciler.httpclient.streams import HttpStream
from reconciler.snapshot import ApplicationStatus

log = logging.getLogger("reconciler.live")

PATH = "/api/v1/stream/applications"
# A stream is ended and opened anew this often: Argo CD drops events for a reader whose
# buffer is full without a word (server/broadcast/broadcaster.go), and a new stream tells
# everything again.
WATCH_SECONDS = 300.0
# Argo CD writes ":" every 15 s on an event stream (argoproj/pkg grpc/http, keepalive);
# three missed mean a dead connection.
IDLE_SECONDS = 45.0
REFUSED = frozenset({404, 501})  # no such endpoint: a proxy that does not route it, or no stream
_BACKOFF = (0.2, 30.0)


class _Refused(Exception):
    """The server does not offer the stream."""


class StreamFailure(Exception):
    """The stream cannot be read; the message is for the log and holds no secret."""


@dataclass(frozen=True)
class _Told:
    status: ApplicationStatus
    epoch: int  # the stream that told it


class ApplicationWatch:
    """What one Argo CD's stream has told, by (namespace, name); ``headers()`` is called
    for each new connection and raises when the token cannot be read."""

    def __init__(
        self,
        server: str,
        client: HttpClient,
        *,
        headers: Callable[[], Mapping[str, str]],
        parse: Callable[[str, Any], ApplicationStatus],
        timeout: timedelta,
        watch_seconds: float = WATCH_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._server, self._client = server.rstrip("/"), client
        self._headers, self._parse = headers, parse
        self._timeout, self._watch_seconds, self._idle = timeout, watch_seconds, idle_seconds
        self._lock = threading.Lock()
        self._apps: dict[tuple[str, str], _Told] = {}
        self._epoch = 0  # bumped by every stream opened
        self._open: int | None = None  # the open stream's epoch
        self._last: tuple[int, float] | None = None  # the last ended stream's epoch, and when
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._answer: HttpStream | None = None
        self._opened_at: float | None = None  # when the thread's current stream opened
        self._down = False  # said so in the log, not yet open again
        self.refused: int | None = None  # the status the stream was refused with

    def __repr__(self) -> str:
        return f"ApplicationWatch(server={safe_url(self._server)!r})"

    def start(self) -> None:
        """Open the stream in a daemon thread, once, unless closed or refused."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, daemon=True, name="argocd-watch")
                self._thread.start()

    def told(
        self, names: Iterable[str], namespace: str, max_age: float
    ) -> dict[str, ApplicationStatus]:
        """The statuses of ``names`` in ``namespace`` that are current: told on the open
        stream, or on the last one within ``max_age`` seconds of its end."""
        with self._lock:
            current = {self._open} if self._open is not None else set()
            if self._last is not None and time.monotonic() - self._last[1] <= max_age:
                current.add(self._last[0])
            out = {}
            for name in names:
                told = self._apps.get((namespace, name))
                if told is not None and told.epoch in current:
                    out[name] = told.status
            return out

    def close(self) -> None:
        """Stop the stream and wait for its thread."""
        self._stop.set()
        with self._lock:
            answer, thread = self._answer, self._thread
        if answer is not None:
            answer.close()  # unblocks the thread's read of a quiet stream
        if thread is not None:
            thread.join(self._timeout.total_seconds() + 5)

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._opened_at = None
            try:
                self._follow()
            except _Refused:
                log.warning(
                    "Argo CD at %s refused the application stream GET %s (%d): each "
                    "application is read with a GET every cycle",
                    safe_url(self._server),
                    PATH,
                    self.refused,
                )
                return
            except Exception as exc:  # the thread must live on; reads use GETs meanwhile
                # One that was open for a while is opened again at once; one that fails as
                # it begins (a proxy cutting streams, no answer) backs off.
                failures = 1 if self._lasted() else failures + 1
                self._say_down(exc)
            else:  # the server ended it, or it was due to be opened anew
                failures = 0 if self._lasted() else failures + 1
            finally:
                self._ended()
            if failures:
                self._stop.wait(min(_BACKOFF[1], _BACKOFF[0] * 2 ** (failures - 1)))

    def _follow(self) -> None:
        headers = {**self._headers(), "Accept": "text/event-stream"}  # a token read anew
        request = HttpRequest(
            "GET", self._server + PATH, headers, timeout=self._timeout, redirects="none"
        )
        with self._client.stream(request) as answer:
            with self._lock:
                self._answer = answer
            if self._stop.is_set():  # close() came before the stream could be hung up
                return
            if answer.status in REFUSED:
                self.refused = answer.status
                raise _Refused
            if answer.status != 200:
                raise StreamFailure(_status_reason(answer.status))
            with self._lock:
                self._epoch += 1
                epoch = self._open = self._epoch
            self._opened_at = time.monotonic()
            if self._down:
                self._down = False
                log.info(
                    "the Argo CD application stream at %s is open again", safe_url(self._server)
                )
            ends = time.monotonic() + self._watch_seconds
            for line in answer.lines(self._idle):
                if self._stop.is_set() or time.monotonic() >= ends:
                    return
                event = parse_event(line)
                if event is not None:
                    self._apply(event, epoch)

    def _apply(self, event: Mapping[str, Any], epoch: int) -> None:
        error = event.get("error")
        if error is not None:
            codes = error if isinstance(error, dict) else {}
            code = codes.get("http_code") or codes.get("grpc_code")
            raise StreamFailure(f"Argo CD ended it with an error (code {code})")
        result = event.get("result") or {}
        kind, app = result.get("type"), result.get("application") or {}
        meta = app.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace")
        if not isinstance(name, str) or not isinstance(namespace, str):
            return
        key = (namespace, name)
        if kind == "DELETED":
            with self._lock:
                self._apps.pop(key, None)
            return
        if kind not in ("ADDED", "MODIFIED"):
            return
        try:
            status = self._parse(name, app)
        except (ValueError, TypeError, AttributeError):
            status = ApplicationStatus(
                application=name,
                error=f"Argo CD at {safe_url(self._server)} answered application {name!r} "
                "in an unknown shape",
            )
        with self._lock:
            self._apps[key] = _Told(status, epoch)

    def _ended(self) -> None:
        with self._lock:
            self._answer = None
            if self._open is not None:
                self._last = (self._open, time.monotonic())
                self._open = None
                # What no later stream can make current again.
                self._apps = {k: t for k, t in self._apps.items() if t.epoch >= self._last[0]}

    def _lasted(self) -> bool:
        return self._opened_at is not None and time.monotonic() - self._opened_at > 1

    def _say_down(self, exc: Exception) -> None:
        if self._down or self._stop.is_set():
            return
        self._down = True
        log.info(
            "the Argo CD application stream at %s is down (%s); reconnecting, and reading "
            "with a GET what it has not told",
            safe_url(self._server),
            _why(exc),
        )


def parse_event(line: bytes) -> dict[str, Any] | None:
    """One line of the stream as JSON, None for blank lines and event-stream comments;
    ValueError for anything else."""
    text = line.strip()
    if not text or text.startswith(b":"):  # ":" is the keepalive
        return None
    if text.startswith(b"data:"):
        text = text[len(b"data:") :].strip()
    elif text.startswith((b"event:", b"id:", b"retry:")):
        return None
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("a stream event that is not a JSON object")
    return document


def _status_reason(status: int) -> str:
    if status == 401:
        return "401: the token is missing, invalid or expired"
    return f"answered {status}"


def _why(exc: Exception) -> str:
    # HttpError and StreamFailure messages hold no secret; another exception's message might.
    if isinstance(exc, (HttpError, StreamFailure)):
        return str(exc)
    if isinstance(exc, ValueError):
        return "a line that is not an event"
    return type(exc).__name__
