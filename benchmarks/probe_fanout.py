"""One round of HTTP gate probes for every app: ``HttpProber.probe`` against loopback.

    python -m benchmarks.probe_fanout [--apps 1000] [--rounds 5]

A ThreadingHTTPServer on 127.0.0.1 answers ``/staging/<app>/healthz`` with 200
``{"status": "ok"}`` (HTTP/1.1, keep-alive); the gate expects that status and JSON field.
It is not the demo's SampleServices: that server keeps the socketserver default listen
backlog of 5, and 32 probes in flight overflow it (a dropped SYN is retried after 1 s, so
probes time out). The services run in another process, as real services would: an
event-loop server with a canned answer, so the figure is the prober's and not the
services' (both processes still share the machine's 2 cores). For comparison the same
rounds run against http.server's threads in another process and, as the first baseline
did, in this one. Target (issue 11): 1,000 probes <= 1 s per round.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Literal

from benchmarks.common import line, median_ms, timed
from benchmarks.generate import app_name
from reconciler.gates.port import ProbeRequest
from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import HttpGate
from reconciler.probes import HttpProber


class Healthy(BaseHTTPRequestHandler):
    """Every path is a healthy service."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class ThreadedServices(ThreadingHTTPServer):
    """Loopback services with a listen backlog deep enough for the prober's fan-out."""

    daemon_threads = True
    request_queue_size = 1024


class _Canned(asyncio.Protocol):
    """HTTP/1.1 keep-alive: every request (no body) gets the same healthy answer."""

    ANSWER = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n"
        b'{"status": "ok"}'
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(self.ANSWER)


def serve_threaded(ready: Connection) -> None:
    """The threaded http.server services in this (child) process until killed."""
    services = ThreadedServices(("127.0.0.1", 0), Healthy)
    ready.send(services.server_address[1])
    services.serve_forever()


def serve(ready: Connection) -> None:
    """Serve the loopback services until killed; sends the port through ``ready``.

    An event-loop server, as production services are: http.server's thread per
    connection costs about 1.4 ms of CPU a request, which would measure the server.
    """

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            _Canned, "127.0.0.1", 0, backlog=1024
        )
        ready.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


Services = Literal["event-loop", "threaded", "threaded-in-process"]


def start_services(kind: Services) -> tuple[int, Callable[[], None]]:
    """The services' port and how to stop them."""
    if kind == "threaded-in-process":
        services = ThreadedServices(("127.0.0.1", 0), Healthy)
        threading.Thread(target=services.serve_forever, daemon=True).start()

        def stop_thread() -> None:
            services.shutdown()
            services.server_close()

        return services.server_address[1], stop_thread
    ours, theirs = multiprocessing.Pipe()
    target = serve if kind == "event-loop" else serve_threaded
    process = multiprocessing.get_context("fork").Process(target=target, args=(theirs,))
    process.start()
    port = int(ours.recv())

    def stop_process() -> None:
        process.kill()
        process.join()

    return port, stop_process


def rounds_against(kind: Services, apps: int, rounds: int) -> tuple[list[float], list[float]]:
    """Wall and prober-CPU seconds of ``rounds`` rounds of ``apps`` probes."""
    port, stop = start_services(kind)
    try:
        gate = HttpGate(
            name="healthz",
            kind="http",
            url=f"http://127.0.0.1:{port}" + "/{env}/{app}/healthz",
            expect_json={"status": "ok"},
        )
        requests = [ProbeRequest(gate, app_name(i), "staging", None) for i in range(apps)]
        prober = HttpProber(HttpClient())
        cpu: list[float] = []

        def one_round() -> None:
            start = time.process_time()
            samples = prober.probe(requests)
            cpu.append(time.process_time() - start)
            failed = [s for s in samples if not s.ok]
            assert not failed, f"{len(failed)} probes failed, e.g. {failed[0].detail}"

        one_round()  # connections and the client's loop start on first use
        cpu.clear()
        return timed(one_round, rounds), cpu
    finally:
        stop()


def run(apps: int, rounds: int = 5) -> list[str]:
    """Measure and return the result lines: the prober against each kind of services."""
    out = []
    for kind in ("event-loop", "threaded", "threaded-in-process"):
        wall, cpu = rounds_against(kind, apps, rounds)
        ms = median_ms(wall)
        note = f"median of {rounds}, max {max(wall) * 1000:.0f} ms"
        if kind == "event-loop":
            verdict = ("met" if ms <= 1000 else "MISSED") if apps >= 1000 else "(smaller run)"
            note += f"; target <= 1000 ms for 1,000; {verdict}"
        out.append(line(f"probe round, {apps} gates, {kind} services", f"{ms:.0f} ms", note))
        out.append(line("  of which the prober's CPU", f"{median_ms(cpu):.0f} ms", "median"))
    return out


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(run(args.apps, args.rounds)))


if __name__ == "__main__":
    main()
