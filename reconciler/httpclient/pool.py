"""Connections kept alive between batches: per origin, a few idle one-connection clients.

A request takes an idle client of its origin (scheme, host, port) or makes one, and gives
it back once its response is closed, so the next batch, a cycle later, finds the
connection open. Idle clients are bounded per origin and in all, and closed once idle
longer than ``expiry``; a connection the server closed while idle is dropped by httpcore
before use, and one it closed just as a GET or HEAD went out is retried once, fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

Origin = tuple[str, str, int]

PER_HOST = 32  # idle connections kept per origin: a round's concurrency to one host
MAX_IDLE = 512  # idle connections kept in all
EXPIRY = 60.0  # seconds an idle connection is kept; below common server idle timeouts
_RETRIED = frozenset({"GET", "HEAD"})
# A pooled connection the server closed as the request went out fails with one of these.
_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass
class _Idle:
    client: httpx.AsyncClient
    since: float


class Pool:
    """Idle clients by origin, and one client for pinned requests; used on one loop only."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | bool,
        trust_env: bool,
        per_host: int = PER_HOST,
        max_idle: int = MAX_IDLE,
        expiry: float = EXPIRY,
    ) -> None:
        self._tls = tls
        self._trust_env = trust_env
        self._per_host = per_host
        self._max_idle = max_idle
        self._expiry = expiry
        # Least recently used origin first, each origin's most recently used client last.
        self._idle: OrderedDict[Origin, list[_Idle]] = OrderedDict()
        self._count = 0
        self._closing: set[asyncio.Task[None]] = set()
        # Each open stream's task (reconciler.httpclient.streams), ended when the pool closes.
        self.streams: set[asyncio.Task[None]] = set()
        self.connects = 0  # TCP connections opened so far (for tests and metrics)
        # Pinned requests (reconciler.httpclient.redirects) keep no connection: each opens
        # one to the address it was checked for.
        self.pinning = httpx.AsyncClient(
            verify=tls,
            trust_env=trust_env,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
            timeout=None,
        )

    @contextlib.asynccontextmanager
    async def exchange(self, outgoing: httpx.Request) -> AsyncIterator[httpx.Response]:
        """The streamed response to ``outgoing`` on a kept connection of its origin."""
        origin = (outgoing.url.scheme, outgoing.url.host, outgoing.url.port or 0)
        client = self._take(origin)
        done = False
        try:
            response = await self._send(client, outgoing)
            try:
                yield response
            finally:
                await response.aclose()
            done = True
        finally:
            # A client whose exchange failed half-way may hold a connection in any state.
            if done:
                self._give(origin, client)
            else:
                self._close(client)

    def sweep(self) -> None:
        """Close the clients idle longer than ``expiry``."""
        old = time.monotonic() - self._expiry
        for origin in list(self._idle):
            kept = [idle for idle in self._idle[origin] if idle.since >= old]
            for idle in self._idle[origin]:
                if idle.since < old:
                    self._close(idle.client)
            self._count -= len(self._idle[origin]) - len(kept)
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]

    async def sweeping(self) -> None:
        """Sweep forever, a few times per ``expiry``; cancelled when the pool closes."""
        while True:
            await asyncio.sleep(self._expiry / 4)
            self.sweep()

    def idle(self) -> int:
        """How many idle clients (kept connections, at most) the pool holds."""
        return self._count

    async def aclose(self) -> None:
        """End every stream, close every client, idle or pinning, and wait for the closes."""
        streams = list(self.streams)
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
        for kept in self._idle.values():
            for idle in kept:
                self._close(idle.client)
        self._idle.clear()
        self._count = 0
        self._close(self.pinning)
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _take(self, origin: Origin) -> httpx.AsyncClient:
        kept = self._idle.get(origin)
        if kept:
            self._count -= 1
            client = kept.pop().client
            if not kept:
                del self._idle[origin]
            return client
        # One connection per client: httpcore's pool does work in proportion to its size
        # on every request, so many one-connection clients beat one large pool (measured
        # on loopback: about 0.6 ms of CPU per request, 2-5 ms through one pool of 32-64).
        return httpx.AsyncClient(
            verify=self._tls,
            trust_env=self._trust_env,
            limits=httpx.Limits(
                max_connections=1, max_keepalive_connections=1, keepalive_expiry=self._expiry
            ),
            timeout=None,
        )

    def _give(self, origin: Origin, client: httpx.AsyncClient) -> None:
        kept = self._idle.setdefault(origin, [])
        self._idle.move_to_end(origin)
        kept.append(_Idle(client, time.monotonic()))
        self._count += 1
        if len(kept) > self._per_host:
            self._close(kept.pop(0).client)
            self._count -= 1
        while self._count > self._max_idle:
            oldest = next(iter(self._idle))
            self._close(self._idle[oldest].pop(0).client)
            self._count -= 1
            if not self._idle[oldest]:
                del self._idle[oldest]

    async def _send(self, client: httpx.AsyncClient, outgoing: httpx.Request) -> httpx.Response:
        connected = False

        async def trace(event: str, _info: dict[str, Any]) -> None:
            nonlocal connected
            if event.endswith("connect_tcp.started"):
                connected = True
                self.connects += 1

        outgoing.extensions["trace"] = trace
        try:
            return await client.send(outgoing, stream=True)
        except _STALE:
            # Only a request that went out on a kept connection may have met a server
            # closing it; only GET and HEAD are safe to send twice.
            if connected or outgoing.method not in _RETRIED:
                raise
        connected = False
        return await client.send(outgoing, stream=True)

    def _close(self, client: httpx.AsyncClient) -> None:
        task = asyncio.get_running_loop().create_task(client.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
