"""The daemon's HTTP endpoints: /metrics, /healthz, /readyz (stdlib server, loopback by default)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler.errors import PolicyError
from reconciler.metrics import CONTENT_TYPE, Metrics


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


class StatusServer:
    """Serves metrics and probes on a background thread until stop()."""

    def __init__(self, listen: str, metrics: Metrics, status: Callable[[], Status]) -> None:
        host, port = parse_listen(listen)
        handler = _handler(metrics, status)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """``host:port`` actually bound (the port is chosen by the OS when 0 was asked)."""
        host, port = self._server.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"{shown}:{port}"

    def start(self) -> StatusServer:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(metrics: Metrics, status: Callable[[], Status]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "reconciler"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.exposition(), CONTENT_TYPE)
            elif path in ("/healthz", "/readyz"):
                current = status()
                ok, reason = current.healthy if path == "/healthz" else current.ready
                self._send(200 if ok else 503, (reason + "\n").encode(), "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the daemon's own log

    return Handler
