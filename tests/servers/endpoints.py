"""Health and smoke endpoints on 127.0.0.1 for probe and HTTP client tests.

A real ``ThreadingHTTPServer`` on an ephemeral port; each path is routed to a small
behaviour: answer, hang, trickle, send a huge body, redirect. Hanging and trickling
handlers wait on ``released``, which the context manager sets on exit, so no handler
outlives the test and nothing sleeps.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: Message  # case-insensitive, as HTTP header names are
    body: bytes


Route = Callable[["_Handler", "Endpoints"], None]


@dataclass
class Endpoints:
    """The running server: add routes, read what it received."""

    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    served: threading.Condition = field(default_factory=threading.Condition)
    served_count: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        with self.served:
            return [r.path for r in self.received]

    def mark_served(self) -> None:
        with self.served:
            self.served_count += 1
            self.served.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        endpoints = self.server.endpoints
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with endpoints.served:
            endpoints.received.append(Received(self.command, self.path, self.headers, body))
        route = endpoints.routes.get(self.path.split("?")[0], reply(404, b"no such route"))
        try:
            route(self, endpoints)
        except OSError:  # the client gave up (timeout, body cap): expected in these tests
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many probes connect at once
    endpoints: Endpoints

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client closing early is part of what these tests do


@contextmanager
def serve() -> Iterator[Endpoints]:
    """Start a server on 127.0.0.1:0; on exit release every waiting handler and stop it."""
    server = _Server(("127.0.0.1", 0), _Handler)
    endpoints = Endpoints(port=server.server_address[1])
    server.endpoints = endpoints
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield endpoints
    finally:
        endpoints.released.set()
        with endpoints.served:
            endpoints.served.notify_all()
        server.shutdown()
        server.server_close()
        thread.join()


# -- behaviours -------------------------------------------------------------------------------


def reply(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    """Answer with ``status``, ``body`` and ``headers`` (Content-Length added)."""

    def route(handler: _Handler, endpoints: Endpoints) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
        endpoints.mark_served()

    return route


def reply_json(document: Any, status: int = 200) -> Route:
    """Answer with ``document`` as JSON."""
    return reply(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


def redirect(location: str, status: int = 302) -> Route:
    """Redirect to ``location``."""
    return reply(status, b"", {"Location": location})


def hang(watch: int | None = None) -> Route:
    """Accept the request and answer nothing until the server is released.

    With ``watch``, first wait until that many other requests have been served, then note
    in ``notes["client_waiting"]`` whether this request's client was still connected:
    True proves the others finished while this one was still in flight.
    """

    def route(handler: _Handler, endpoints: Endpoints) -> None:
        if watch is not None:
            with endpoints.served:
                endpoints.served.wait_for(
                    lambda: endpoints.served_count >= watch or endpoints.released.is_set()
                )
            endpoints.notes["client_waiting"] = _peer_connected(handler.connection)
        endpoints.released.wait()
        handler.close_connection = True

    return route


def trickle(every: float = 0.05) -> Route:
    """Send headers, then one body byte every ``every`` seconds until released.

    Each read completes well within any per-read timeout, so only a deadline on the whole
    exchange stops a client.
    """

    def route(handler: _Handler, endpoints: Endpoints) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        while not endpoints.released.wait(every):
            handler.wfile.write(b"x")
            handler.wfile.flush()

    return route


def huge(size: int, declare_length: bool) -> Route:
    """Send ``size`` bytes, with or without a Content-Length header."""

    def route(handler: _Handler, endpoints: Endpoints) -> None:
        handler.send_response(200)
        if declare_length:
            handler.send_header("Content-Length", str(size))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        chunk = b"x" * 65536
        sent = 0
        while sent < size:
            piece = chunk[: size - sent]
            handler.wfile.write(piece)
            sent += len(piece)
        handler.wfile.flush()
        endpoints.mark_served()

    return route


def _peer_connected(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True  # nothing to read and not closed: the client is still waiting
    except OSError:
        return False
    finally:
        sock.setblocking(True)
