"""The redirect policy: which redirects a request follows, to which addresses, with what."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from reconciler.httpclient.addresses import (
    Address,
    Resolver,
    host_and_port,
    is_http,
    safe_url,
    same_host,
)
from reconciler.httpclient.errors import RedirectRefused
from reconciler.httpclient.failures import failure
from reconciler.httpclient.messages import HttpRequest

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers kept when a redirect leaves the host; everything else may carry credentials.
_HARMLESS = frozenset({"accept", "accept-encoding", "accept-language", "user-agent"})


def check_redirect(request: HttpRequest, origin: str, target: str) -> None:
    """Raise ``RedirectRefused`` unless ``request``'s policy allows ``origin`` -> ``target``."""
    if not is_http(target):
        raise RedirectRefused(
            f"{safe_url(origin)} redirected to a non-HTTP URL, not followed", request.url
        )
    if request.redirects == "same-host" and not same_host(origin, target):
        raise RedirectRefused(
            f"{safe_url(origin)} redirected to another host ({safe_url(target)}), not followed",
            request.url,
        )


def forwarded_headers(headers: dict[str, str], origin: str, target: str) -> dict[str, str]:
    """The headers the hop to ``target`` sends: all on the same host, else harmless ones."""
    if same_host(origin, target):
        return headers
    return {k: v for k, v in headers.items() if k.lower() in _HARMLESS}


def follow_up(status: int, method: str, body: bytes | None) -> tuple[str, bytes | None]:
    """The method and body of the request a ``status`` redirect after ``method`` leads to."""
    if status == 303 or (status in (301, 302) and method == "POST"):
        return ("GET" if method != "HEAD" else method), None
    return method, body


# A request with private_redirects = "deny" follows a redirect off its own host only when
# every address the new host resolves to is public, and then connects to one of those
# addresses: the URL names the address, while the Host header, SNI and the certificate
# check keep the name (reconciler.httpclient.transport.send_pinned), so a rebinding DNS
# server gets no second lookup.
async def pinned_addresses(
    request: HttpRequest,
    origin: str,
    target: str,
    resolver: Resolver,
    refused: Callable[[Address], bool],
) -> Sequence[Address]:
    """The addresses a hop to ``target`` may connect to; () when it need not be pinned."""
    # Under "deny", a target on the request's own host is not checked: whoever wrote the
    # policy chose that host.
    if request.private_redirects != "deny" or same_host(request.url, target):
        return ()
    host, port = host_and_port(target)
    try:
        found = await asyncio.to_thread(resolver, host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise failure(exc, target) from None
    rejected = [a for a in found if refused(a)]
    if rejected or not found:
        where = ", ".join(str(a) for a in rejected) or "no address"
        raise RedirectRefused(
            f"{safe_url(origin)} redirected to {safe_url(target)}, whose host resolves to "
            f'a non-public address ({where}), not followed (private_redirects = "deny")',
            request.url,
        )
    return found
