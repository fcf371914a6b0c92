"""The daemon's HTTP endpoints: /metrics, /healthz, /readyz and, with a secret, /webhook.

A stdlib server, loopback by default. ``POST /webhook`` takes GitHub deliveries and
``POST /webhook/forwarded`` the ones a peer replica forwards: the body length is checked
before a byte of it is read, then ``reconciler.webhooks`` decides.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler.errors import PolicyError, os_reason
from reconciler.metrics import CONTENT_TYPE, Metrics
from reconciler.webhooks import (
    FORWARD_PATH,
    FORWARD_SIGNATURE,
    Answer,
    SeenDeliveries,
    WebhookConfig,
    describe,
    receive,
    receive_forward,
)

log = logging.getLogger("reconciler.webhook")

GET_PATHS = ("/metrics", "/healthz", "/readyz", "/status")
WEBHOOK_PATH = "/webhook"
# A client that stops sending mid-request must not hold a server thread for ever.
READ_TIMEOUT_SECONDS = 30.0
# Connections the kernel may queue before the server accepts them. The stdlib's 5 drops
# connections in a burst of scrapes, probes and webhooks (a dropped SYN is retried after
# 1s, 3s...: seconds of latency, then failures); the kernel caps it at net.core.somaxconn.
BACKLOG = 1024
_DELIVERY_HEADERS = (
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Hub-Signature-256",
    FORWARD_SIGNATURE,
    "Content-Type",
)
_POST_PATHS = (WEBHOOK_PATH, FORWARD_PATH)


@dataclass(frozen=True)
class Status:
    """What /healthz and /readyz answer: (ok, one-line reason)."""

    healthy: tuple[bool, str]
    ready: tuple[bool, str]


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); PolicyError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise PolicyError(f'--listen "{text}": expected HOST:PORT, such as 127.0.0.1:9464')
    return host.strip("[]") or "127.0.0.1", int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6  # dual-stack for "::" where the system allows it


class StatusServer:
    """Serves metrics, probes and (given ``webhook``) /webhook on a background thread."""

    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        status: Callable[[], Status],
        webhook: WebhookConfig | None = None,
        *,
        backlog: int = BACKLOG,
        view: Callable[[], bytes | None] = lambda: None,
    ) -> None:
        """Binds at once; PolicyError when ``listen`` is malformed or cannot be bound.
        ``view``: the JSON document GET /status answers (None: no cycle has given one yet)."""
        host, port = parse_listen(listen)
        handler = _handler(metrics, status, webhook, view)
        kind = _Server6 if ":" in host else _Server
        self._server: ThreadingHTTPServer = kind((host, port), handler, bind_and_activate=False)
        self._server.request_queue_size = backlog  # read by listen() in server_activate
        try:
            self._server.server_bind()
            self._server.server_activate()
        except OSError as exc:
            self._server.server_close()
            reason = os_reason(exc)
            raise PolicyError(
                f'--listen "{listen}": cannot listen there ({reason}); pick a free port or '
                "another address (RECONCILER_LISTEN)"
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """``host:port`` actually bound (the port is chosen by the OS when 0 was asked)."""
        host, port = self._server.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"[{shown}]:{port}" if ":" in shown else f"{shown}:{port}"

    def start(self) -> StatusServer:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        started = self._thread.ident is not None
        if started:  # shutdown() of a server never started would wait for ever
            self._server.shutdown()
        self._server.server_close()
        if started:
            self._thread.join(timeout=5)


def _handler(
    metrics: Metrics,
    status: Callable[[], Status],
    webhook: WebhookConfig | None,
    view: Callable[[], bytes | None],
) -> type[BaseHTTPRequestHandler]:
    seen = SeenDeliveries()

    class Handler(BaseHTTPRequestHandler):
        server_version = "reconciler"
        timeout = READ_TIMEOUT_SECONDS

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.exposition(), CONTENT_TYPE)
            elif path in ("/healthz", "/readyz"):
                current = status()
                ok, reason = current.healthy if path == "/healthz" else current.ready
                self._send(200 if ok else 503, (reason + "\n").encode(), "text/plain")
            elif path == "/status":
                self._status(view())
            elif path in _POST_PATHS and webhook is not None:
                self._text(405, f"use POST for {path}", allow="POST")
            else:
                self._send(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in GET_PATHS:
                self._text(405, f"use GET for {path}", allow="GET")
            elif path not in _POST_PATHS or webhook is None:
                self._send(404, b"not found\n", "text/plain")
            else:
                self._webhook(webhook, forwarded=path == FORWARD_PATH)

        def _status(self, document: bytes | None) -> None:
            if document is None:
                self._text(503, "no cycle has finished with a valid policy yet; see /readyz")
            else:
                self._send(200, document, "application/json")

        def _webhook(self, config: WebhookConfig, *, forwarded: bool) -> None:
            headers = {name: self.headers.get(name) for name in _DELIVERY_HEADERS}
            length = self._body_length(config.max_body_bytes, headers)
            if length is None:
                return
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True
                self._answer(headers, 400, "the body is shorter than its Content-Length")
                return
            if forwarded:
                answer, forward = receive_forward(config, seen, headers, body, time.time())
                if forward is not None:
                    # A forward's event and id are in its signed body, not in headers.
                    headers["X-GitHub-Event"] = f"forwarded {forward.event}"
                    headers["X-GitHub-Delivery"] = forward.delivery
            else:
                answer = receive(config, seen, headers, body)
            triggered = self._trigger(config, headers, answer) if answer.reason else True
            if triggered is None:
                return
            if triggered:
                self._answer(headers, answer.status, answer.text, answer.reason)
            if answer.reason is not None and not forwarded:
                # Forwards are never forwarded on: one hop, so no loop between peers.
                delivery = (headers["X-GitHub-Delivery"] or "").strip()
                config.forward(delivery, (headers["X-GitHub-Event"] or "").strip(), answer.reason)

        def _trigger(
            self, config: WebhookConfig, headers: dict[str, str | None], answer: Answer
        ) -> bool | None:
            """Trigger the cycle: True, or False after answering it coalesced (202), or None
            after answering that it failed (500)."""
            assert answer.reason is not None
            try:
                at_once = config.trigger(answer.reason) is not False
            except Exception as exc:
                # Forgotten, so that GitHub's redelivery of it is not dropped as a replay.
                seen.forget((headers["X-GitHub-Delivery"] or "").strip())
                log.error(
                    "webhook %s: could not trigger a cycle (%s)",
                    describe(headers),
                    type(exc).__name__,
                )
                self._text(500, "could not trigger a cycle; redeliver later")
                return None
            if at_once:
                return True
            # Accepted all the same: the reason waits, coalesced, for the next cycle the
            # trigger limit allows, so GitHub must not redeliver it.
            log.info(
                "webhook %s: coalesced, the trigger limit is spent (%s)",
                describe(headers),
                answer.reason,
                extra={"event": "webhook", "status": 202, "coalesced": answer.reason},
            )
            self._text(202, "accepted: coalesced into the next cycle the limit allows")
            return False

        def _body_length(self, limit: int, headers: dict[str, str | None]) -> int | None:
            """The announced body length, or None after refusing the request unread."""
            announced = self.headers.get("Content-Length")
            if self.headers.get("Transfer-Encoding") is not None or announced is None:
                self.close_connection = True
                self._answer(headers, 411, "a Content-Length is required (no chunked bodies)")
                return None
            if not announced.strip().isdigit():
                self.close_connection = True
                self._answer(headers, 400, "the Content-Length is not a number")
                return None
            length = int(announced)
            if length > limit:
                # The body is never read: the connection closes instead.
                self.close_connection = True
                self._answer(headers, 413, f"the body is larger than {limit} bytes")
                return None
            return length

        def _answer(
            self,
            headers: dict[str, str | None],
            code: int,
            text: str,
            reason: str | None = None,
        ) -> None:
            if code == 202:
                log.info(
                    "webhook %s: cycle triggered (%s)",
                    describe(headers),
                    reason,
                    extra={"event": "webhook", "status": code, "trigger": reason},
                )
            else:
                level = logging.INFO if code < 400 else logging.WARNING
                log.log(
                    level,
                    "webhook %s: %d %s",
                    describe(headers),
                    code,
                    text,
                    extra={"event": "webhook", "status": code},
                )
            self._text(code, text)

        def _text(self, code: int, text: str, allow: str | None = None) -> None:
            self._send(code, (text + "\n").encode(), "text/plain", allow)

        def _send(
            self, code: int, body: bytes, content_type: str, allow: str | None = None
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if allow is not None:
                self.send_header("Allow", allow)
            if self.close_connection:
                self.send_header("Connection", "close")
            try:
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                # The client left (or stalled past the read timeout): nobody is listening.
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the daemon's own log

    return Handler
