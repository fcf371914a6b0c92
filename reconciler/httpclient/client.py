"""``HttpClient``: sends ``HttpRequest``s, one or a batch, each within its own deadline and
following redirects only as its policy allows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import cast

import httpx

from reconciler import __version__
from reconciler.httpclient.addresses import Address, Resolver, non_public, resolve, safe_url
from reconciler.httpclient.errors import HttpError, HttpTimeout, RedirectRefused
from reconciler.httpclient.failures import failure
from reconciler.httpclient.messages import (
    DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT,
    NO_HEADERS,
    HttpRequest,
    HttpResponse,
    RedirectPolicy,
    check_request,
)
from reconciler.httpclient.redirects import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    check_redirect,
    follow_up,
    forwarded_headers,
    pinned_addresses,
)
from reconciler.httpclient.transport import (
    Clients,
    read_body,
    run_batch,
    send_pinned,
    tls_context,
)


class HttpClient:
    """Sends ``HttpRequest``s; holds only configuration (one TLS context), no connections.

    Every request has a hard deadline covering connect, redirects and the whole body (a
    peer that trickles bytes cannot hold it past its timeout) and reads at most
    ``max_body_bytes``. All methods are synchronous and safe to call from several threads at
    once (each call runs its own event loop); they must not be called from inside a running
    event loop.
    """

    def __init__(
        self,
        *,
        ca_file: str | None = None,
        verify: bool = True,
        trust_env: bool = True,
        user_agent: str = f"reconciler/{__version__}",
        resolver: Resolver = resolve,
        refused: Callable[[Address], bool] = non_public,
    ) -> None:
        """``ca_file`` replaces the bundled CA certificates (a private CA); ``trust_env``
        honours HTTP(S)_PROXY and NO_PROXY."""
        # ``resolver`` and ``refused`` are how a private_redirects = "deny" request looks up
        # a redirect's host and which of its addresses it refuses (tests replace them to
        # play a rebinding DNS server).
        self._verify = tls_context(ca_file, verify=verify)
        self._trust_env = trust_env
        self._user_agent = user_agent
        self._resolver = resolver
        self._refused = refused

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
        return asyncio.run(
            run_batch(
                requests,
                concurrency,
                deadline,
                stopping,
                tls=self._verify,
                trust_env=self._trust_env,
                exchange=self._exchange,
            )
        )

    async def _exchange(self, clients: Clients, request: HttpRequest) -> HttpResponse | HttpError:
        started = time.monotonic()
        seconds = request.timeout.total_seconds()
        try:
            check_request(request)
            async with asyncio.timeout(seconds):
                return await self._follow(clients, request, started)
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

    async def _follow(self, clients: Clients, request: HttpRequest, started: float) -> HttpResponse:
        method, url, body = request.method.upper(), request.url, request.body
        headers = dict(request.headers)
        if not any(k.lower() == "user-agent" for k in headers):
            headers["User-Agent"] = self._user_agent
        timeout = httpx.Timeout(request.timeout.total_seconds())
        pins: Sequence[Address] = ()  # the checked addresses the next hop may connect to
        for _ in range(MAX_REDIRECTS + 1):
            outgoing = clients[0].build_request(
                method, url, headers=headers, content=body, timeout=timeout
            )
            response = await (
                send_pinned(clients[1], outgoing, pins)
                if pins
                else clients[0].send(outgoing, stream=True)
            )
            try:
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
            finally:
                await response.aclose()
        raise RedirectRefused(
            f"{safe_url(request.url)} redirected more than {MAX_REDIRECTS} times", request.url
        )


def _seconds(length: timedelta) -> str:
    return f"{length.total_seconds():g}s"
