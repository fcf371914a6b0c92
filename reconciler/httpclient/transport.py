"""httpx underneath: the TLS context, a batch's lanes, its deadline and stop, sending to a
pinned address and reading a body up to its limit."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence

import certifi
import httpx

from reconciler.httpclient.addresses import Address, safe_url
from reconciler.httpclient.errors import BodyTooLarge, HttpError
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.httpclient.pool import Pool

STOP_POLL = 0.1  # seconds between looks at a batch's stop flag

Exchange = Callable[[Pool, HttpRequest], Awaitable[HttpResponse | HttpError]]


def tls_context(ca_file: str | None, *, verify: bool) -> ssl.SSLContext | bool:
    """The TLS setting for httpx: ``ca_file`` (else certifi's bundle) trusted, or no check."""
    return ssl.create_default_context(cafile=ca_file or certifi.where()) if verify else False


async def run_batch(
    pool: Pool,
    requests: Sequence[HttpRequest],
    concurrency: int,
    deadline: float | None,
    *,
    stopping: Callable[[], bool] | None,
    exchange: Exchange,
) -> list[HttpResponse | HttpError | None]:
    """Run ``exchange`` for each request in ``concurrency`` lanes; None where none ran."""
    # Requests run on httpx's asyncio client, each cancelled at its own deadline, which
    # threads cannot do to a blocked read.
    outcomes: list[HttpResponse | HttpError | None] = [None] * len(requests)
    pending = list(reversed(list(enumerate(requests))))

    async def lane() -> None:
        while pending and not (stopping is not None and stopping()):
            index, request = pending.pop()
            ends = time.monotonic() + request.timeout.total_seconds()
            if deadline is None or ends <= deadline:
                outcomes[index] = await exchange(pool, request)

    lanes = asyncio.gather(*(lane() for _ in range(min(concurrency, len(requests)))))
    if stopping is None:
        await lanes
    else:
        await _until_stopped(lanes, stopping)
    return outcomes


async def _until_stopped(lanes: asyncio.Future[list[None]], stopping: Callable[[], bool]) -> None:
    """Await ``lanes``, cancelling them once ``stopping()`` is true."""
    # Polled, not awaited on: the stop is usually a signal handler's flag, and a signal
    # caught by another thread runs its Python handler only when this thread next runs
    # bytecode, which a loop asleep in select() until its next timer would not do soon.
    while not lanes.done():
        if stopping():
            lanes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lanes
            return
        await asyncio.wait([lanes], timeout=STOP_POLL)
    await lanes


async def send_pinned(
    client: httpx.AsyncClient, outgoing: httpx.Request, pins: Sequence[Address]
) -> httpx.Response:
    """Send ``outgoing`` to one of ``pins``, keeping its host name for Host, SNI and TLS."""
    # The URL names the address, the Host header and TLS (SNI and certificate check) keep
    # the host name, so no second DNS lookup happens.
    host = outgoing.url.host
    outgoing.extensions["sni_hostname"] = host
    for address in pins[:-1]:  # as a browser would: the next address if one is down
        outgoing.url = outgoing.url.copy_with(host=str(address))
        with contextlib.suppress(httpx.ConnectError):
            return await client.send(outgoing, stream=True)
    outgoing.url = outgoing.url.copy_with(host=str(pins[-1]))
    return await client.send(outgoing, stream=True)


async def read_body(response: httpx.Response, request: HttpRequest, url: str) -> bytes:
    """The body of ``response`` to ``url``; ``BodyTooLarge`` past ``max_body_bytes``."""
    limit = request.max_body_bytes
    too_large = BodyTooLarge(f"the body from {safe_url(url)} is over {limit} bytes", request.url)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
