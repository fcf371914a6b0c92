"""A reverse proxy on loopback that forwards to a real server and injects faults on the way.

Put in front of the Debian docker-registry, it plays a registry under load: ``too_many``
answers the next requests 429 with a ``Retry-After``, ``time_out`` forwards a request (its
effect happens) but holds the answer back past the client's timeout, and ``pause`` is asked
before each request is forwarded: a test may hold the request there, kill the client that
sent it, then let it through or drop it, which places a process death exactly between two
effects.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.servers.httpserve import ClosingHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class ProxyFaults:
    """What to inject; counts are how many of the next requests get each fault."""

    too_many: int = 0
    retry_after: int = 1
    timeouts: int = 0
    timeout_delay: float = 0.0
    # Asked before forwarding, outside any lock (it may block): False drops the request.
    pause: Callable[[str, str], bool] | None = None
    served: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, name: str) -> bool:
        """Consume one of the ``name`` faults (``too_many`` or ``timeouts``) if any is left."""
        with self.lock:
            left: int = getattr(self, name)
            if left <= 0:
                return False
            setattr(self, name, left - 1)
            return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        faults = self.server.faults
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if faults.pause is not None and not faults.pause(self.command, path):
            self.close_connection = True
            return
        if faults.take("too_many"):
            self._answer(429, [("Retry-After", str(faults.retry_after))], b"")
            return
        status, headers, payload = self._forward(body)
        if faults.take("timeouts"):
            self.server.stopping.wait(faults.timeout_delay)  # the injected timeout itself
        self._answer(status, headers, payload)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, kept, payload
        finally:
            upstream.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        with self.server.faults.lock:
            self.server.faults.served.append((self.command, self.path, status))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class _Server(ClosingHTTPServer):
    def __init__(self, upstream_port: int, faults: ProxyFaults) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream_port = upstream_port
        self.faults = faults

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that timed out or was killed hangs up: that is the point


@dataclass(frozen=True)
class RunningProxy:
    """A running proxy: clients use ``host``; tests set ``faults``."""

    port: int
    faults: ProxyFaults

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def serve_proxy(upstream_port: int) -> Iterator[RunningProxy]:
    """Forward 127.0.0.1:<free port> to 127.0.0.1:``upstream_port`` until the block ends."""
    faults = ProxyFaults()
    server = _Server(upstream_port, faults)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield RunningProxy(server.server_address[1], faults)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
