"""The daemon's HTTP server under a burst: 2,000 requests over 50 concurrent connections.

A real StatusServer on loopback and real sockets, one connection per request (as scrapes,
kubelet probes and webhook deliveries come). A request fails when it errors, answers other
than 200, or its connection needed a retransmission: on loopback nothing drops a packet
but a full listen queue, and every drop costs the client a second or more (the stdlib's
backlog of 5 drops dozens in such a burst). Latency is printed as a figure, not judged.
"""

from __future__ import annotations

import socket
import sys
import urllib.request

import pytest

from benchmarks.server_burst import STDLIB_BACKLOG, serve_and_burst
from reconciler.errors import PolicyError
from reconciler.metrics import Metrics
from reconciler.server import BACKLOG, Status, StatusServer
from tests import figures

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="retransmissions are read from Linux's TCP_INFO"
)


def test_a_burst_of_2000_requests_over_50_connections_all_succeed_at_once() -> None:
    seen = serve_and_burst(BACKLOG, requests=2000, connections=50)
    figures.line(
        f"server burst: {seen.requests} requests over 50 connections, backlog {BACKLOG}: "
        f"failed={seen.failures} retransmitted={seen.retransmitted} "
        f"p50={seen.p50_ms:.1f}ms p99={seen.p99_ms:.1f}ms"
    )
    assert seen.failures == 0, seen.reasons
    assert seen.retransmitted == 0, "a full listen queue dropped connections"


def test_the_measure_sees_the_drops_of_the_stdlib_backlog() -> None:
    # The same burst against the old backlog: proves the measure above can fail.
    seen = serve_and_burst(STDLIB_BACKLOG, requests=2000, connections=50)
    figures.line(
        f"server burst: backlog {STDLIB_BACKLOG} (stdlib): failed={seen.failures} "
        f"retransmitted={seen.retransmitted} p50={seen.p50_ms:.1f}ms p99={seen.p99_ms:.1f}ms"
    )
    assert seen.failures + seen.retransmitted > 0


def test_an_address_in_use_is_a_clear_error() -> None:
    first = StatusServer("127.0.0.1:0", Metrics((0, 1)), _ok)
    try:
        with pytest.raises(PolicyError, match="cannot listen there") as raised:
            StatusServer(first.address, Metrics((0, 1)), _ok)
        assert "pick a free port" in str(raised.value)
    finally:
        first.stop()


def _ok() -> Status:
    return Status((True, "ok"), (True, "ok"))


def test_slow_clients_holding_sockets_do_not_starve_the_probes() -> None:
    """Slowloris: 200 sockets send half a request line and stall. Each is held by its own
    thread until the read timeout, so /healthz and /metrics still answer at once."""
    server = StatusServer("127.0.0.1:0", Metrics((0, 1)), _ok).start()
    host, _, port = server.address.rpartition(":")
    held: list[socket.socket] = []
    try:
        for _ in range(200):
            stalled = socket.create_connection((host, int(port)), timeout=10)
            stalled.sendall(b"GET /metr")
            held.append(stalled)
        for path in ("/healthz", "/metrics"):
            with urllib.request.urlopen(f"http://{server.address}{path}", timeout=10) as answer:
                assert answer.status == 200
        figures.line("server slowloris: stalled=200 probes_answered=2/2")
    finally:
        for stalled in held:
            stalled.close()
        server.stop()
