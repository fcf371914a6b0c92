"""HTTP for every adapter (probes, OCI registries, version endpoints): the one httpx user.

Callers see frozen ``HttpRequest``/``HttpResponse`` values and typed ``HttpError``s, never
httpx types. Every request has a hard deadline covering connect, redirects and the whole
body (a peer that trickles bytes cannot hold it past its timeout), reads at most
``max_body_bytes`` and follows redirects only as its policy allows.

Requests run on httpx's asyncio client: ``send_all`` runs a batch in at most
``concurrency`` lanes on one event loop, and each request is cancelled at its own
deadline, which threads cannot do to a blocked read. ``send`` is a batch of one.
``send_within`` also bounds the whole batch: a request starts only when its timeout ends
by the batch's deadline, and a stop cancels the requests in flight. All are synchronous
and safe to call from several threads at once (each call runs its own event loop); they
must not be called from inside a running event loop.

A request with ``private_redirects = "deny"`` follows a redirect off its own host only
when every address the new host resolves to is public (``reconciler.addresses``), and then
connects to one of those addresses: the URL names the address, while the Host header, SNI
and the certificate check keep the name, so a rebinding DNS server gets no second lookup.

Header values are treated as secrets: they appear in no repr, error or log line, and are
not forwarded when a redirect leaves the host (only harmless headers such as Accept are).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import ClassVar, Literal, cast
from urllib.parse import urlsplit

import certifi
import httpx

from reconciler import __version__
from reconciler.addresses import (
    Address,
    PrivateRedirects,
    host_and_port,
    non_public,
    resolve,
    safe_url,
    same_host,
)
from reconciler.errors import PermanentError, ReconcilerError, TransientError

RedirectPolicy = Literal["none", "same-host", "any"]

MAX_REDIRECTS = 5
STOP_POLL = 0.1  # seconds between looks at a batch's stop flag
DEFAULT_TIMEOUT = timedelta(seconds=10)
DEFAULT_MAX_BODY = 1_048_576
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers kept when a redirect leaves the host; everything else may carry credentials.
_HARMLESS = frozenset({"accept", "accept-encoding", "accept-language", "user-agent"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\t\x20-\x7e]*")
_SCHEMES = frozenset({"http", "https"})
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, repr=False)
class HttpRequest:
    """One request; ``timeout`` bounds the whole exchange, redirects and body included."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    body: bytes | None = None
    timeout: timedelta = DEFAULT_TIMEOUT
    max_body_bytes: int = DEFAULT_MAX_BODY
    redirects: RedirectPolicy = "same-host"
    # "deny": a redirect off the request's own host must not lead to a non-public address.
    private_redirects: PrivateRedirects = "allow"

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.headers))
        return f"HttpRequest({self.method} {safe_url(self.url)}, headers=[{names}])"


@dataclass(frozen=True, repr=False)
class HttpResponse:
    """A complete response: status, headers (lower-case names), body, final URL, elapsed."""

    status: int
    url: str
    elapsed: timedelta
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"")

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def __repr__(self) -> str:
        return f"HttpResponse({self.status} from {safe_url(self.url)}, {len(self.body)} bytes)"


class HttpError(ReconcilerError):
    """A request that produced no usable response; the message names no header value."""

    kind: ClassVar[str] = "error"

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = safe_url(url)


class HttpTimeout(HttpError, TransientError):
    """No complete response within the request's timeout."""

    kind = "timeout"


class HttpConnectionError(HttpError, TransientError):
    """Could not connect, or the connection broke (DNS, refused, reset, TLS, protocol)."""

    kind = "connection"


class BodyTooLarge(HttpError):
    """The body is larger than the request's ``max_body_bytes``."""

    kind = "body-too-large"


class RedirectRefused(HttpError):
    """A redirect the request's policy does not allow, or too many of them."""

    kind = "redirect-refused"


class InvalidRequest(HttpError, PermanentError):
    """The request cannot be sent as given (URL, header name or value)."""

    kind = "invalid-request"


class HttpClient:
    """Sends ``HttpRequest``s; holds only configuration (one TLS context), no connections."""

    def __init__(
        self,
        *,
        ca_file: str | None = None,
        verify: bool = True,
        trust_env: bool = True,
        user_agent: str = f"reconciler/{__version__}",
        resolver: Callable[[str, int], Sequence[Address]] = resolve,
        refused: Callable[[Address], bool] = non_public,
    ) -> None:
        """``ca_file`` replaces the bundled CA certificates (a private CA); ``trust_env``
        honours HTTP(S)_PROXY and NO_PROXY. ``resolver`` and ``refused`` are how a
        ``private_redirects = "deny"`` request looks up a redirect's host and which of its
        addresses it refuses (tests replace them to play a rebinding DNS server)."""
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_file or certifi.where()) if verify else False
        )
        self._trust_env = trust_env
        self._user_agent = user_agent
        self._resolver = resolver
        self._refused = refused

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] = _EMPTY,
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
        """Send all ``requests``, at most ``concurrency`` at a time; outcomes in order.

        Each request's deadline starts when it starts, not while it waits for a slot, so a
        hanging endpoint costs the others nothing beyond the slot it holds.
        """
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
        """``send_all``, bounded: None for each request not sent or cut short.

        A request starts only if its own timeout ends by ``deadline`` (``time.monotonic()``
        seconds), so the batch ends by then; once ``stopping()`` is true, none starts and
        those in flight are cancelled (within ``STOP_POLL`` seconds).
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not requests:
            return []
        return asyncio.run(self._send_all(requests, concurrency, deadline, stopping))

    async def _send_all(
        self,
        requests: Sequence[HttpRequest],
        concurrency: int,
        deadline: float | None,
        stopping: Callable[[], bool] | None,
    ) -> list[HttpResponse | HttpError | None]:
        # One client with a one-connection pool per lane: httpcore's pool does work in
        # proportion to its size on every request, so many small pools beat one large one
        # (measured on loopback: about 0.6 ms of CPU per request this way, 2-5 ms through
        # one shared pool of 32-64 connections).
        outcomes: list[HttpResponse | HttpError | None] = [None] * len(requests)
        pending = list(reversed(list(enumerate(requests))))
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        # Requests pinned to a checked address get their own client that keeps no
        # connection: every pinned request opens one to the address it was given.
        fresh = httpx.Limits(max_connections=1, max_keepalive_connections=0)

        async def lane() -> None:
            async with (
                httpx.AsyncClient(
                    verify=self._verify, trust_env=self._trust_env, limits=limits, timeout=None
                ) as client,
                httpx.AsyncClient(
                    verify=self._verify, trust_env=self._trust_env, limits=fresh, timeout=None
                ) as pinning,
            ):
                while pending and not (stopping is not None and stopping()):
                    index, request = pending.pop()
                    ends = time.monotonic() + request.timeout.total_seconds()
                    if deadline is None or ends <= deadline:
                        outcomes[index] = await self._exchange((client, pinning), request)

        lanes = asyncio.gather(*(lane() for _ in range(min(concurrency, len(requests)))))
        if stopping is None:
            await lanes
        else:
            await _until_stopped(lanes, stopping)
        return outcomes

    async def _exchange(
        self, clients: tuple[httpx.AsyncClient, httpx.AsyncClient], request: HttpRequest
    ) -> HttpResponse | HttpError:
        started = time.monotonic()
        seconds = request.timeout.total_seconds()
        try:
            _check(request)
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
            return _failure(exc, request.url)

    async def _follow(
        self,
        clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
        request: HttpRequest,
        started: float,
    ) -> HttpResponse:
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
                _send_pinned(clients[1], outgoing, pins)
                if pins
                else clients[0].send(outgoing, stream=True)
            )
            try:
                location = response.headers.get("location")
                if (
                    response.status_code in _REDIRECTS
                    and location is not None
                    and request.redirects != "none"
                ):
                    # Joined to the URL asked for: a pinned response's URL holds an address.
                    target = str(httpx.URL(url).join(location))
                    _allow_redirect(request, url, target)
                    pins = await self._checked(request, url, target)
                    if not same_host(url, target):
                        headers = {k: v for k, v in headers.items() if k.lower() in _HARMLESS}
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method = "GET" if method != "HEAD" else method
                        body = None
                    url = target
                    continue
                content = await _read(response, request, url)
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

    async def _checked(self, request: HttpRequest, origin: str, target: str) -> Sequence[Address]:
        """The addresses a hop to ``target`` may connect to; () when it need not be pinned.

        Under "deny", a target on the request's own host is not checked: whoever wrote the
        policy chose that host. Any other target is refused unless every address its name
        resolves to is public; the hop then connects to those addresses only.
        """
        if request.private_redirects != "deny" or same_host(request.url, target):
            return ()
        host, port = host_and_port(target)
        try:
            found = await asyncio.to_thread(self._resolver, host, port)
        except (OSError, UnicodeError, ValueError) as exc:
            raise _failure(exc, target) from None
        refused = [a for a in found if self._refused(a)]
        if refused or not found:
            where = ", ".join(str(a) for a in refused) or "no address"
            raise RedirectRefused(
                f"{safe_url(origin)} redirected to {safe_url(target)}, whose host resolves to "
                f'a non-public address ({where}), not followed (private_redirects = "deny")',
                request.url,
            )
        return found


async def _until_stopped(lanes: asyncio.Future[list[None]], stopping: Callable[[], bool]) -> None:
    """Await ``lanes``, cancelling them once ``stopping()`` is true.

    Polled, not awaited on: the stop is usually a signal handler's flag, and a signal
    caught by another thread runs its Python handler only when this thread next runs
    bytecode, which a loop asleep in select() until its next timer would not do soon.
    """
    while not lanes.done():
        if stopping():
            lanes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lanes
            return
        await asyncio.wait([lanes], timeout=STOP_POLL)
    await lanes


async def _send_pinned(
    client: httpx.AsyncClient, outgoing: httpx.Request, pins: Sequence[Address]
) -> httpx.Response:
    """Send ``outgoing`` to one of ``pins``: the URL names the address, the Host header and
    TLS (SNI and certificate check) keep the host name, so no second DNS lookup happens."""
    host = outgoing.url.host
    outgoing.extensions["sni_hostname"] = host
    for address in pins[:-1]:  # as a browser would: the next address if one is down
        outgoing.url = outgoing.url.copy_with(host=str(address))
        with contextlib.suppress(httpx.ConnectError):
            return await client.send(outgoing, stream=True)
    outgoing.url = outgoing.url.copy_with(host=str(pins[-1]))
    return await client.send(outgoing, stream=True)


def _check(request: HttpRequest) -> None:
    # httpx and h11 quote a rejected header value in their errors; refuse it here instead.
    for name, value in request.headers.items():
        if not _TOKEN.fullmatch(name):
            raise InvalidRequest(f"invalid header name {name!r}", request.url)
        if not _VALUE.fullmatch(value):
            raise InvalidRequest(
                f"the value of header {name} is not one line of plain ASCII text "
                "(check the secret it is read from, e.g. a trailing newline)",
                request.url,
            )
    if request.max_body_bytes < 0:
        raise InvalidRequest("max_body_bytes must not be negative", request.url)
    if _scheme(request.url) not in _SCHEMES:
        raise InvalidRequest(f"{safe_url(request.url)} is not an http(s) URL", request.url)


def _allow_redirect(request: HttpRequest, origin: str, target: str) -> None:
    if _scheme(target) not in _SCHEMES:
        raise RedirectRefused(
            f"{safe_url(origin)} redirected to a non-HTTP URL, not followed", request.url
        )
    if request.redirects == "same-host" and not same_host(origin, target):
        raise RedirectRefused(
            f"{safe_url(origin)} redirected to another host ({safe_url(target)}), not followed",
            request.url,
        )


async def _read(response: httpx.Response, request: HttpRequest, url: str) -> bytes:
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


def _failure(exc: BaseException, url: str) -> HttpError:
    # Messages are composed here from the URL and the kind of failure, never from the
    # exception's own text, which may quote request data.
    where = safe_url(url)
    host = where.split("/")[2] if where.count("/") >= 2 else where
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return InvalidRequest(f"{where} is not a valid http(s) URL", url)
    if isinstance(exc, httpx.LocalProtocolError):
        return InvalidRequest(f"the request to {where} could not be sent as HTTP", url)
    if isinstance(exc, httpx.ConnectError):
        return HttpConnectionError(f"cannot connect to {host}: {_cause(exc)}", url)
    if isinstance(exc, httpx.RemoteProtocolError):
        return HttpConnectionError(f"{host} sent a malformed response or closed early", url)
    if isinstance(exc, (httpx.NetworkError, OSError)):
        return HttpConnectionError(f"connection to {host} failed: {_cause(exc)}", url)
    return HttpConnectionError(f"HTTP exchange with {host} failed ({type(exc).__name__})", url)


def _cause(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(seen, socket.gaierror):
            return "host name not found"
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno).lower()
        seen = seen.__cause__ or seen.__context__
    return "connection failed"


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _seconds(length: timedelta) -> str:
    return f"{length.total_seconds():g}s"
