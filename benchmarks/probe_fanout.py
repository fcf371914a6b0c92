"""One round of HTTP gate probes for every app: ``HttpProber.probe`` against loopback.

    python -m benchmarks.probe_fanout [--apps 1000] [--rounds 5]

A ThreadingHTTPServer on 127.0.0.1 answers ``/staging/<app>/healthz`` with 200
``{"status": "ok"}`` (HTTP/1.1, keep-alive); the gate expects that status and JSON field.
It is not the demo's SampleServices: that server keeps the socketserver default listen
backlog of 5, and 32 probes in flight overflow it (a dropped SYN is retried after 1 s, so
probes time out). The server runs in this process, so its threads share the interpreter
with the prober: the figure is an upper bound on the prober's own time.
Target (issue 11): 1,000 probes <= 1 s per round.
"""

from __future__ import annotations

import argparse
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.common import line, median_ms, timed
from benchmarks.generate import app_name
from reconciler.httpclient import HttpClient
from reconciler.policy.model import HttpGate
from reconciler.probes import HttpProber, ProbeRequest


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


class Services(ThreadingHTTPServer):
    """Loopback services with a listen backlog deep enough for the prober's fan-out."""

    daemon_threads = True
    request_queue_size = 1024


def run(apps: int, rounds: int = 5) -> list[str]:
    """Measure and return the result lines."""
    services = Services(("127.0.0.1", 0), Healthy)
    threading.Thread(target=services.serve_forever, daemon=True).start()
    try:
        names = [app_name(i) for i in range(apps)]
        gate = HttpGate(
            name="healthz",
            kind="http",
            url=f"http://127.0.0.1:{services.server_address[1]}" + "/{env}/{app}/healthz",
            expect_json={"status": "ok"},
        )
        requests = [ProbeRequest(gate, name, "staging", None) for name in names]
        prober = HttpProber(HttpClient())

        def one_round() -> None:
            samples = prober.probe(requests)
            failed = [s for s in samples if not s.ok]
            assert not failed, f"{len(failed)} probes failed, e.g. {failed[0].detail}"

        one_round()  # connections and the client's loop start on first use
        seconds = timed(one_round, rounds)
    finally:
        services.shutdown()
        services.server_close()
    ms = median_ms(seconds)
    verdict = ("met" if ms <= 1000 else "MISSED") if apps >= 1000 else "(smaller run)"
    return [
        line(
            f"probe round, {apps} HTTP gates on loopback",
            f"{ms:.0f} ms",
            f"median; target <= 1000 ms for 1,000; {verdict}",
        ),
        line("probe round, max", f"{max(seconds) * 1000:.0f} ms", f"{rounds} rounds"),
    ]


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("\n".join(run(args.apps, args.rounds)))


if __name__ == "__main__":
    main()
