"""What the loopback API servers share: a JSON answer, serving in a thread for a while, and
a server that leaves no handler thread behind once closed."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Request = socket.socket | tuple[bytes, socket.socket]  # what socketserver hands a handler


def send_json(handler: BaseHTTPRequestHandler, code: int, document: Any) -> None:
    """Answer ``document`` as JSON with ``code``."""
    body = json.dumps(document).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[None]:
    """Serve ``server`` in a thread until the block ends, then shut it down."""
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class ClosingHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer whose server_close() leaves no handler thread running.

    A client that keeps its connection alive (PyGithub's requests session, say) holds a
    handler thread in readline() for as long as the client lives, past the server's stop.
    server_close() hangs up on every open connection, sets ``stopping`` (an injected delay
    waits on it, so it ends too), then joins the handler threads; one still running after
    CLOSE_SECONDS is reported as a ResourceWarning, an error under the tests' settings.
    """

    daemon_threads = True  # never holds the interpreter's exit; server_close() joins them
    CLOSE_SECONDS = 10.0

    def __init__(
        self,
        server_address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        bind_and_activate: bool = True,
    ) -> None:
        super().__init__(server_address, handler, bind_and_activate)
        self.stopping = threading.Event()
        self._handlers: dict[Request, threading.Thread] = {}
        self._handlers_lock = threading.Lock()

    def process_request(self, request: Request, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._handlers_lock:
            self._handlers[request] = thread
        thread.start()

    def shutdown_request(self, request: Request) -> None:
        with self._handlers_lock:
            self._handlers.pop(request, None)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self.stopping.set()
        with self._handlers_lock:
            handlers = dict(self._handlers)
        for connection in handlers:
            if isinstance(connection, socket.socket):
                with contextlib.suppress(OSError):  # the handler closed it meanwhile
                    connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + self.CLOSE_SECONDS
        for thread in handlers.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        if left := [t.name for t in handlers.values() if t.is_alive()]:
            warnings.warn(
                f"{type(self).__name__}: handler threads {left} still running "
                f"{self.CLOSE_SECONDS:.0f}s after server_close()",
                ResourceWarning,
                stacklevel=2,
            )
