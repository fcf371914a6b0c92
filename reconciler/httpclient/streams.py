"""Responses read as they arrive (server streams): ``HttpStream`` hands its body to one
thread line by line, each wait bounded by an idle timeout, and may be closed from any other."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import httpx

from reconciler.httpclient.addresses import safe_url
from reconciler.httpclient.errors import BodyTooLarge, HttpConnectionError, HttpError, HttpTimeout
from reconciler.httpclient.failures import failure
from reconciler.httpclient.messages import HttpRequest, check_request
from reconciler.httpclient.pool import Pool

# Chunks read ahead of the reader: a slow reader holds the server back, not this process's
# memory.
_AHEAD = 16
# Seconds a reader waits past its idle timeout for the loop itself, so that a loop stopped
# by HttpClient.close() cannot hold it for ever.
_GRACE = 5.0

T = TypeVar("T")
_Item = bytes | HttpError | None  # a chunk, the failure that ended the body, or its end


class HttpStream:
    """A response whose body arrives over time, from ``HttpClient.stream``; close it."""

    def __init__(
        self,
        request: HttpRequest,
        response: httpx.Response,
        loop: asyncio.AbstractEventLoop,
        chunks: asyncio.Queue[_Item],
        pump: asyncio.Task[None],
    ) -> None:
        self.status = response.status_code
        self.url = str(response.url)
        self.headers = tuple(response.headers.multi_items())
        self._request = request
        self._loop, self._chunks, self._pump = loop, chunks, pump
        self._closed = threading.Event()
        self._ended = False

    def __repr__(self) -> str:
        return f"HttpStream({self.status} from {safe_url(self.url)})"

    def __enter__(self) -> HttpStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def lines(self, idle: float) -> Iterator[bytes]:
        """The body's lines without their ends, until it ends or ``close``; ``HttpTimeout``
        after ``idle`` seconds without a byte, ``BodyTooLarge`` past ``max_body_bytes``."""
        limit = self._request.max_body_bytes
        buffer = bytearray()
        while (chunk := self._next(idle)) is not None:
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", start)) >= 0:
                yield bytes(buffer[start:end]).removesuffix(b"\r")
                start = end + 1
            del buffer[:start]
            if len(buffer) > limit:
                raise BodyTooLarge(
                    f"a line from {safe_url(self.url)} is over {limit} bytes", self._request.url
                )
        if buffer and not self._closed.is_set():
            # A body that ends cleanly without a line end still ends a line (grpc-gateway
            # writes its error chunk so).
            yield bytes(buffer)

    def close(self) -> None:
        """Hang up; a reader blocked in ``lines`` ends soon after. Safe from any thread."""
        if self._closed.is_set():
            return
        self._closed.set()
        closing = _submit(_cancel(self._pump), self._loop)
        if closing is not None:
            with contextlib.suppress(Exception):
                closing.result(timeout=_GRACE)

    def _next(self, idle: float) -> bytes | None:
        if self._ended or self._closed.is_set():
            return None
        future = _submit(_take(self._chunks, idle), self._loop)
        if future is None:
            self._ended = True
            raise HttpConnectionError(
                f"the stream from {safe_url(self.url)} ended: the HTTP client was closed",
                self._request.url,
            ) from None
        try:
            item = future.result(timeout=idle + _GRACE)
        except TimeoutError:
            future.cancel()
            self._ended = True
            raise HttpTimeout(
                f"nothing from {safe_url(self.url)} within {idle:g}s", self._request.url
            ) from None
        except concurrent.futures.CancelledError:
            item = None
        if item is None or isinstance(item, HttpError):
            self._ended = True
        if isinstance(item, HttpError):
            raise item
        return item


async def open_stream(pool: Pool, request: HttpRequest, user_agent: str) -> HttpStream:
    """Send ``request`` and return once its response's headers arrive, within its timeout."""
    check_request(request)
    headers = dict(request.headers)
    if not any(k.lower() == "user-agent" for k in headers):
        headers["User-Agent"] = user_agent
    seconds = request.timeout.total_seconds()
    # No read timeout: a stream may be quiet for long; the reader's idle timeout bounds it.
    outgoing = pool.pinning.build_request(
        request.method.upper(),
        request.url,
        headers=headers,
        content=request.body,
        timeout=httpx.Timeout(seconds, read=None),
    )
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[httpx.Response] = loop.create_future()
    chunks: asyncio.Queue[_Item] = asyncio.Queue(_AHEAD)
    # One task does the whole exchange: httpx's connection state must not change tasks.
    pump = loop.create_task(_pump(pool, outgoing, request, opened, chunks))
    pool.streams.add(pump)
    pump.add_done_callback(pool.streams.discard)
    try:
        async with asyncio.timeout(seconds):
            response = await opened
    except TimeoutError:
        pump.cancel()
        raise HttpTimeout(
            f"no response from {safe_url(request.url)} within {_seconds(request.timeout)}",
            request.url,
        ) from None
    except BaseException:
        pump.cancel()
        raise
    return HttpStream(request, response, loop, chunks, pump)


async def _pump(
    pool: Pool,
    outgoing: httpx.Request,
    request: HttpRequest,
    opened: asyncio.Future[httpx.Response],
    chunks: asyncio.Queue[_Item],
) -> None:
    try:
        async with pool.exchange(outgoing) as response:
            if opened.done():  # the opener gave up waiting
                return
            opened.set_result(response)
            async for chunk in response.aiter_bytes():
                await chunks.put(chunk)
        await chunks.put(None)
    except asyncio.CancelledError:
        _wake(chunks)
        raise
    except Exception as exc:  # every failure reaches the reader as an HttpError
        error = exc if isinstance(exc, HttpError) else failure(exc, request.url)
        if not opened.done():
            opened.set_exception(error)
        else:
            await chunks.put(error)


def _submit(
    work: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop
) -> concurrent.futures.Future[T] | None:
    """``work`` run on ``loop``; None when the loop is closed (the client was closed)."""
    try:
        return asyncio.run_coroutine_threadsafe(work, loop)
    except RuntimeError:
        work.close()
        return None


async def _take(chunks: asyncio.Queue[_Item], idle: float) -> _Item:
    async with asyncio.timeout(idle):
        return await chunks.get()


async def _cancel(pump: asyncio.Task[None]) -> None:
    pump.cancel()
    await asyncio.wait([pump], timeout=_GRACE)


def _wake(chunks: asyncio.Queue[_Item]) -> None:
    # A cancelled stream's reader must not wait for chunks that will never come.
    while not chunks.empty():
        chunks.get_nowait()
    chunks.put_nowait(None)


def _seconds(length: timedelta) -> str:
    return f"{length.total_seconds():g}s"
