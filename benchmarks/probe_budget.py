"""A probe round against endpoints that all hang: unbounded (before) and with the budget (after).

    python -m benchmarks.probe_budget [--probes 2400] [--timeout 2] [--budget 60]

Every gate endpoint accepts the connection and never answers, as a wedged service does.
Before the probing budget a round took every probe's full timeout, 32 at a time
(probes x timeout / 32 seconds: 150 s for 2,400 gated edges at the default 2 s), and the
cycle with it; with it, the round ends within the budget and the probes that did not fit
are left for the next cycle (no sample, not a failed one). The server runs in another
process: an asyncio loop holding connections open, so the figure is the prober's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import time
from datetime import timedelta
from multiprocessing.connection import Connection

from benchmarks.common import line
from reconciler.gates.port import ProbeRequest
from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import HttpGate
from reconciler.probes import PROBE_BUDGET, HttpProber

UNBOUNDED = timedelta(days=1)


def _hang_forever(ready: Connection) -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the prober gives up and closes
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(hold, "127.0.0.1", 0, backlog=4096)
        ready.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def round_against_hanging(probes: int, timeout: timedelta, budget: timedelta) -> tuple[float, int]:
    """(seconds the round took, probes that got a sample)."""
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_hang_forever, args=(send,), daemon=True)
    server.start()
    try:
        port = receive.recv()
        gate = HttpGate(
            name="health", kind="http", url=f"http://127.0.0.1:{port}/{{app}}", timeout=timeout
        )
        requests = [ProbeRequest(gate, f"app-{n}", "staging", None) for n in range(probes)]
        prober = HttpProber(HttpClient(), budget=budget)
        started = time.perf_counter()
        taken = len(prober.probe(requests))
        return time.perf_counter() - started, taken
    finally:
        server.kill()
        server.join()


def run(probes: int = 2400, timeout: float = 2.0, budget: timedelta = PROBE_BUDGET) -> list[str]:
    """Before (no budget) and after (the budget), side by side."""
    logging.getLogger("reconciler.probes").disabled = True  # its warning is the figure here
    out = []
    each = timedelta(seconds=timeout)
    for name, bound in (("before: unbounded", UNBOUNDED), ("after: budget", budget)):
        seconds, taken = round_against_hanging(probes, each, bound)
        shown = "" if bound is UNBOUNDED else f" {bound.total_seconds():g}s"
        out.append(
            line(
                f"{name}{shown}, {probes} hanging probes x {timeout:g}s",
                f"{seconds:.1f} s",
                f"{taken} taken (failed by their timeout), {probes - taken} left for next cycle",
            )
        )
    return out


def main() -> None:
    """Parse the options and print the two lines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probes", type=int, default=2400)
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per probe")
    parser.add_argument("--budget", type=float, default=PROBE_BUDGET.total_seconds())
    args = parser.parse_args()
    print("\n".join(run(args.probes, args.timeout, timedelta(seconds=args.budget))))


if __name__ == "__main__":
    main()
