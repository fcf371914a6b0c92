"""``HttpClient``: sends ``HttpRequest``s, one or a batch, each within its own deadline and
following redirects only as its policy allows."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta
from typing import cast

import httpx

from reconciler import __version__
from reconciler.httpclient.addresses import Address, Resolver, non_public, resolve, safe_url
from reconciler.httpclient.errors import HttpError, HttpTimeout, RedirectRefused
from reconciler.httpclient.failures import failure
from reconciler.httpclient.loop import LoopThread
from reconciler.httpclient.messages import (
    DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT,
    NO_HEADERS,
    HttpRequest,
    HttpResponse,
    RedirectPolicy,
    check_request,
)
from reconciler.httpclient.pool import EXPIRY, PER_HOST, Pool
from reconciler.httpclient.redirects import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    check_redirect,
    follow_up,
    forwarded_headers,
    pinned_addresses,
)
from reconciler.httpclient.streams import HttpStream, open_stream
from reconciler.httpclient.transport import read_body, run_batch, send_pinned, tls_context


class HttpClient:
    """Sends ``HttpRequest``s, keeping connections alive per host between calls.

    Every request has a hard deadline covering connect, redirects and the whole body (a
    peer that trickles bytes cannot hold it past its timeout) and reads at most
    ``max_body_bytes``. All methods are synchronous and safe to call from several threads at
    once: requests run on one event loop thread the client starts when first used, and
    ``close`` (or the client's garbage collection, or the interpreter's exit) stops.
    """

    def __init__(  # noqa: PLR0913 the client's settings, all keyword-only with defaults
        self,
        *,
        ca_file: str | None = None,
        verify: bool = True,
        trust_env: bool = True,
        user_agent: str = f"reconciler/{__version__}",
        resolver: Resolver = resolve,
        refused: Callable[[Address], bool] = non_public,
        keep_per_host: int = PER_HOST,
        keep_idle: float = EXPIRY,
    ) -> None:
        """``ca_file`` replaces the bundled CA certificates (a private CA); ``trust_env``
        honours HTTP(S)_PROXY and NO_PROXY; up to ``keep_per_host`` idle connections per
        host are kept ``keep_idle`` seconds."""
        # ``resolver`` and ``refused`` are how a private_redirects = "deny" request looks up
        # a redirect's host and which of its addresses it refuses (tests replace them to
        # play a rebinding DNS server).
        self._verify = tls_context(ca_file, verify=verify)
        self._trust_env = trust_env
        self._user_agent = user_agent
        self._resolver = resolver
        self._refused = refused
        self._loop = LoopThread(
            functools.partial(
                Pool,
                tls=self._verify,
                trust_env=trust_env,
                per_host=keep_per_host,
                expiry=keep_idle,
            )
        )
        # Neither the loop nor the finalizer may hold the client: it would never be collected.
        weakref.finalize(self, self._loop.close)

    def close(self) -> None:
        """Close the kept connections and stop the loop thread; a later call starts anew."""
        self._loop.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def connections_opened(self) -> int:
        """TCP connections opened since the loop started (how well keep-alive works)."""
        pool = self._loop.pool()
        return pool.connects if pool is not None else 0

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] = NO_HEADERS,
        body: bytes | None = None,
        timeout: timedelta = DEFAULT_TIMEOUT,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        redirects: RedirectPolicy = "same-host",
    ) -> HttpResponse:
        """Send one request; raises an ``HttpError`` subclass when there is no response."""
        return self.send(
            HttpRequest(method, url, headers, body, timeout, max_body_bytes, redirects)
        )

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; raises an ``HttpError`` subclass when there is no response."""
        outcome = self.send_all([request], concurrency=1)[0]
        if isinstance(outcome, HttpError):
            raise outcome
        return outcome

    def send_all(
        self, requests: Sequence[HttpRequest], *, concurrency: int = 32
    ) -> list[HttpResponse | HttpError]:
        """Send all ``requests``, at most ``concurrency`` at a time; outcomes in order."""
        # Each request's deadline starts when it starts, not while it waits for a slot, so a
        # hanging endpoint costs the others nothing beyond the slot it holds.
        # Without a deadline or a stop every request gets an outcome.
        outcomes = self.send_within(requests, concurrency=concurrency)
        return cast(list[HttpResponse | HttpError], outcomes)

    def send_within(
        self,
        requests: Sequence[HttpRequest],
        *,
        concurrency: int = 32,
        deadline: float | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> list[HttpResponse | HttpError | None]:
        """``send_all``, ending by ``deadline`` (``time.monotonic()`` seconds) or soon after
        ``stopping()``: None for each request not sent or cut short."""
        # A request starts only if its own timeout ends by the deadline, so the batch ends
        # by then; once stopping() is true, none starts and those in flight are cancelled
        # (within transport.STOP_POLL seconds).
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not requests:
            return []
        return self._loop.run(
            lambda pool: run_batch(
                pool, requests, concurrency, deadline, stopping=stopping, exchange=self._exchange
            )
        )

    def stream(self, request: HttpRequest) -> HttpStream:
        """Send ``request`` and return its response once the headers arrive (within its
        timeout), the body to be read with ``HttpStream.lines``; close it, or use ``with``."""
        # Redirects are not followed: a server stream answers where it is asked, and a 3xx
        # is the answer. Raises an ``HttpError`` subclass when there is no response.
        return self._loop.run(lambda pool: open_stream(pool, request, self._user_agent))

    async def _exchange(self, pool: Pool, request: HttpRequest) -> HttpResponse | HttpError:
        started = time.monotonic()
        seconds = request.timeout.total_seconds()
        try:
            check_request(request)
            async with asyncio.timeout(seconds):
                return await self._follow(pool, request, started)
        except HttpError as exc:
            return exc
        except (TimeoutError, httpx.TimeoutException):
            return HttpTimeout(
                f"no complete response from {safe_url(request.url)} within "
                f"{_seconds(request.timeout)}",
                request.url,
            )
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return failure(exc, request.url)

    async def _follow(self, pool: Pool, request: HttpRequest, started: float) -> HttpResponse:
        method, url, body = request.method.upper(), request.url, request.body
        headers = dict(request.headers)
        if not any(k.lower() == "user-agent" for k in headers):
            headers["User-Agent"] = self._user_agent
        timeout = httpx.Timeout(request.timeout.total_seconds())
        pins: Sequence[Address] = ()  # the checked addresses the next hop may connect to
        for _ in range(MAX_REDIRECTS + 1):
            outgoing = pool.pinning.build_request(
                method, url, headers=headers, content=body, timeout=timeout
            )
            async with (
                _pinned(pool, outgoing, pins) if pins else pool.exchange(outgoing)
            ) as response:
                location = response.headers.get("location")
                if (
                    response.status_code in REDIRECT_STATUSES
                    and location is not None
                    and request.redirects != "none"
                ):
                    # Joined to the URL asked for: a pinned response's URL holds an address.
                    target = str(httpx.URL(url).join(location))
                    check_redirect(request, url, target)
                    pins = await pinned_addresses(
                        request, url, target, self._resolver, self._refused
                    )
                    headers = forwarded_headers(headers, url, target)
                    method, body = follow_up(response.status_code, method, body)
                    url = target
                    continue
                content = await read_body(response, request, url)
                return HttpResponse(
                    status=response.status_code,
                    url=url if pins else str(response.url),
                    elapsed=timedelta(seconds=time.monotonic() - started),
                    headers=tuple(response.headers.multi_items()),
                    body=content,
                )
        raise RedirectRefused(
            f"{safe_url(request.url)} redirected more than {MAX_REDIRECTS} times", request.url
        )


@contextlib.asynccontextmanager
async def _pinned(
    pool: Pool, outgoing: httpx.Request, pins: Sequence[Address]
) -> AsyncIterator[httpx.Response]:
    response = await send_pinned(pool.pinning, outgoing, pins)
    try:
        yield response
    finally:
        await response.aclose()


def _seconds(length: timedelta) -> str:
    return f"{length.total_seconds():g}s"
