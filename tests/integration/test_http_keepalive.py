"""Keep-alive per host: connections the HTTP client reuses across probe rounds and calls,
counted as the TCP connections a loopback server accepts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from reconciler.gates.port import ProbeRequest
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import HttpConnectionError
from reconciler.policy.model import HttpGate
from reconciler.probes import HttpProber


@dataclass
class Counting:
    """What the server saw: connections accepted, requests answered; how it misbehaves."""

    port: int = 0
    accepted: int = 0
    answered: int = 0
    # "idle-close": close each connection after its response, without saying so, as a
    # server whose idle timeout fired does; "drop-reused": close a connection without an
    # answer when a second request arrives on it, as one whose timeout fired just then.
    mode: str = "keep"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/health") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def setup(self) -> None:
        super().setup()
        self.served_here = 0

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        state = self.server.state
        self.served_here += 1
        if state.mode == "drop-reused" and self.served_here > 1:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        with state.lock:
            state.answered += 1
        if state.mode == "idle-close":
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    state: Counting

    def get_request(self) -> tuple[socket.socket, Any]:
        accepted = super().get_request()
        with self.state.lock:
            self.state.accepted += 1
        return accepted

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


@contextmanager
def counting_server(mode: str = "keep") -> Iterator[Counting]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = Counting(port=server.server_address[1], mode=mode)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(trust_env=False) as http:
        yield http


def _probes(url: str, count: int) -> list[ProbeRequest]:
    gate = HttpGate(name="health", kind="http", url=url)
    return [ProbeRequest(gate, f"app-{i}", "staging", None) for i in range(count)]


def test_two_probe_rounds_to_one_host_reuse_connections(client: HttpClient) -> None:
    with counting_server() as server:
        prober = HttpProber(client, concurrency=32)
        first = prober.probe(_probes(server.url(), 50))
        after_first = server.accepted
        second = prober.probe(_probes(server.url(), 50))

    assert all(s.ok for s in first + second)
    assert len(first + second) == 100
    assert server.answered == 100
    assert after_first <= 32  # one connection per lane, not one per probe
    assert server.accepted == after_first  # the second round opened none
    assert client.connections_opened() == server.accepted


def test_calls_one_at_a_time_share_one_connection(client: HttpClient) -> None:
    with counting_server() as server:
        for _ in range(20):
            assert client.request("GET", server.url()).status == 200
    assert server.accepted == 1


def test_a_server_closing_idle_connections_costs_nothing_but_a_connection(
    client: HttpClient,
) -> None:
    with counting_server("idle-close") as server:
        prober = HttpProber(client, concurrency=8)
        rounds = [prober.probe(_probes(server.url(), 20)) for _ in range(3)]
    assert all(s.ok for round_ in rounds for s in round_)
    assert server.answered == 60


def test_a_reused_connection_dropped_under_a_get_is_retried_fresh(client: HttpClient) -> None:
    with counting_server("drop-reused") as server:
        for method in ("GET", "HEAD", "GET"):
            assert client.request(method, server.url()).status == 200
    assert server.answered == 3
    assert server.accepted == 3  # each kept connection was dropped, each retry connected


def test_a_post_on_a_dropped_connection_is_not_sent_twice(client: HttpClient) -> None:
    with counting_server("drop-reused") as server:
        assert client.request("POST", server.url(), body=b"{}").status == 200
        with pytest.raises(HttpConnectionError):
            client.request("POST", server.url(), body=b"{}")
    assert server.answered == 1


def test_close_shuts_the_kept_connections_and_the_client_works_after() -> None:
    with counting_server() as server:
        http = HttpClient(trust_env=False)
        assert http.request("GET", server.url()).status == 200
        threads = {t.name for t in threading.enumerate()}
        assert "http-client-loop" in threads
        http.close()
        assert http.connections_opened() == 0
        assert http.request("GET", server.url()).status == 200
        http.close()
    assert server.accepted == 2


def test_several_threads_share_one_client(client: HttpClient) -> None:
    with counting_server() as server:
        failures: list[BaseException] = []

        def calls() -> None:
            try:
                for _ in range(10):
                    assert client.request("GET", server.url()).status == 200
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        workers = [threading.Thread(target=calls) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert not failures
    assert server.answered == 80
    assert server.accepted <= 8
