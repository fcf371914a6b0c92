"""A burst against the daemon's HTTP server: 2,000 requests over 50 connections at a time.

Each request is a new connection, as Prometheus scrapes, kubelet probes and GitHub webhook
deliveries are. The listen backlog of the stdlib server (5) against the daemon's (1024):
requests that failed, connections that needed a retransmission (a SYN or request dropped
because the listen queue was full: seconds of latency, then timeouts), p50 and p99.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass

from benchmarks.common import line
from reconciler.metrics import Metrics
from reconciler.server import BACKLOG, Status, StatusServer

STDLIB_BACKLOG = 5
# Offset of tcpi_total_retrans in Linux's struct tcp_info (stable since 2.6).
_TOTAL_RETRANS = 100
_PATHS = ("/metrics", "/healthz", "/readyz")


@dataclass(frozen=True)
class Burst:
    """What one burst saw: failures (with the first few reasons), retransmissions, latency."""

    requests: int
    failures: int
    retransmitted: int
    p50_ms: float
    p99_ms: float
    reasons: tuple[str, ...] = ()


def burst(address: str, requests: int = 2000, connections: int = 50) -> Burst:
    """Send ``requests`` GETs to ``address`` (host:port), ``connections`` at a time."""
    host, _, port = address.rpartition(":")
    target = (host.strip("[]"), int(port))
    lock = threading.Lock()
    left = iter(range(requests))
    latencies: list[float] = []
    reasons: list[str] = []
    retransmitted = 0

    def worker() -> None:
        nonlocal retransmitted
        while True:
            with lock:
                number = next(left, None)
            if number is None:
                return
            started = time.perf_counter()
            try:
                status, retries = _get(target, _PATHS[number % len(_PATHS)])
                problem = None if status == b"200" else f"status {status.decode()}"
            except OSError as exc:
                retries, problem = 0, type(exc).__name__
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                retransmitted += retries > 0
                if problem is not None:
                    reasons.append(problem)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return Burst(
        requests=requests,
        failures=len(reasons),
        retransmitted=retransmitted,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)] * 1000,
        reasons=tuple(reasons[:5]),
    )


def _get(target: tuple[str, int], path: str) -> tuple[bytes, int]:
    """One request on a new connection: the status code, and how many segments of this
    connection (its SYN included) the kernel had to send again."""
    with socket.create_connection(target, timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: burst\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        retries = 0
        if sys.platform == "linux":
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TOTAL_RETRANS + 4)
            retries = struct.unpack_from("I", info, _TOTAL_RETRANS)[0]
    parts = answer.split(b" ", 2)
    return (parts[1] if len(parts) > 1 else b"none"), retries


def serve_and_burst(backlog: int, requests: int, connections: int) -> Burst:
    """A real StatusServer with ``backlog`` on loopback, and one burst against it."""
    server = StatusServer(
        "127.0.0.1:0",
        Metrics((0, 1)),
        lambda: Status(healthy=(True, "ok"), ready=(True, "ready")),
        backlog=backlog,
    ).start()
    try:
        return burst(server.address, requests, connections)
    finally:
        server.stop()


def run(requests: int = 2000, connections: int = 50) -> list[str]:
    """Backlog 5 (before) and the daemon's (after), side by side."""
    out = []
    for name, backlog in (("before", STDLIB_BACKLOG), ("after", BACKLOG)):
        seen = serve_and_burst(backlog, requests, connections)
        out.append(
            line(
                f"{name}: backlog {backlog}, {requests} requests / {connections} conns",
                f"p99 {seen.p99_ms:.1f} ms",
                f"p50 {seen.p50_ms:.1f} ms, failed {seen.failures}, "
                f"retransmitted {seen.retransmitted}",
            )
        )
    return out


def main() -> None:
    """`python -m benchmarks.server_burst [--requests N] [--connections C]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    print("\n".join(run(args.requests, args.connections)))


if __name__ == "__main__":
    main()
