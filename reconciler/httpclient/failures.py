"""Maps a failed exchange (an httpx, TLS, DNS or socket exception) onto an ``HttpError``."""

from __future__ import annotations

import os
import socket
import ssl

import httpx

from reconciler.httpclient.addresses import safe_url
from reconciler.httpclient.errors import HttpConnectionError, HttpError, InvalidRequest


def failure(exc: BaseException, url: str) -> HttpError:
    """The ``HttpError`` for ``exc`` raised while asking ``url``."""
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
