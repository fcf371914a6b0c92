"""Loopback ports for the servers tests start by number, and for "nothing listens here".

The usual way, binding port 0 and closing the socket, hands back a port the kernel may
give out again before the server meant to take it binds it: to any bind(0), to a client's
outgoing connection, and, with the suite on several cores (pytest-xdist, scripts/test), to
a test in another worker. A port from ``free_port`` is instead taken from a block below the
kernel's ephemeral range (net.ipv4.ip_local_port_range starts at 32768 by default), which
bind(0) and connect() never pick, and from the block of this worker only (PYTEST_XDIST_WORKER
is gw0, gw1, ...), so no other worker is ever given it. Within the block the ports are
handed out in turn from a random start (a process a test starts may take ports too), each
checked free by binding it.
"""

from __future__ import annotations

import os
import random
import socket
import threading

FIRST = 20000  # the blocks: FIRST + k * BLOCK for k < BLOCKS, all below 32768
BLOCK = 1000
BLOCKS = 12

_lock = threading.Lock()
_next: list[int] = []


def block() -> range:
    """This process's ports: its xdist worker's block (gw0's outside xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    start = FIRST + (int(worker) if worker.isdigit() else 0) % BLOCKS * BLOCK
    return range(start, start + BLOCK)


def free_port() -> int:
    """A loopback port nobody listens on now, that no other worker and no bind(0) is given."""
    ports = block()
    with _lock:
        if not _next:
            _next.append(random.SystemRandom().randrange(len(ports)))  # not the seeded one
        for _ in range(len(ports)):
            port = ports[_next[0] % len(ports)]
            _next[0] += 1
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue  # taken, or still in TIME_WAIT: the next one
            return port
    raise AssertionError(f"no free loopback port in {ports}")
