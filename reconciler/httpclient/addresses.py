"""Where outbound HTTP may go: URL rules, name resolution and the non-public address check.

Standard library only: callers that need no HTTP client (messages, logs) can use it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
PrivateRedirects = Literal["allow", "deny"]
# Looks up a host and port; tests replace it to play a rebinding DNS server.
Resolver = Callable[[str, int], Sequence[Address]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEMES = frozenset({"http", "https"})


def safe_url(url: str) -> str:
    """``url`` without credentials or query, fit for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    netloc = parts.netloc.rpartition("@")[2]
    query = "?..." if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) + query


def is_http(url: str) -> bool:
    """Whether ``url`` is an http(s) URL; one that does not parse is not."""
    try:
        return urlsplit(url).scheme in _SCHEMES
    except ValueError:
        return False


def same_host(origin: str, target: str) -> bool:
    """Whether a redirect from ``origin`` to ``target`` stays on the same host and port."""
    # http to https on the default ports of the same host counts as the same host (an
    # upgrade); https to http never does (a downgrade).
    try:
        a, b = urlsplit(origin), urlsplit(target)
        port_a = a.port or _DEFAULT_PORTS.get(a.scheme)
        port_b = b.port or _DEFAULT_PORTS.get(b.scheme)
    except ValueError:
        return False
    if (a.hostname or "").lower() != (b.hostname or "").lower():
        return False
    if a.scheme == "https" and b.scheme != "https":
        return False
    if a.scheme == b.scheme:
        return port_a == port_b
    return (port_a, port_b) == (80, 443)


def host_and_port(url: str) -> tuple[str, int]:
    """The host name (or address, without brackets) and port a URL connects to."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)


def non_public(address: Address) -> bool:
    """Whether ``address`` is anything but a global unicast address."""
    # True for loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16, where cloud metadata
    # services answer, and fe80::/10), private (RFC 1918, fc00::/7), shared address space
    # (100.64.0.0/10, where some clouds put their metadata service), unspecified, reserved,
    # documentation and multicast addresses. An IPv4-mapped IPv6 address (::ffff:127.0.0.1)
    # is judged as the IPv4 address it carries.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_multicast or not address.is_global


def resolve(host: str, port: int) -> tuple[Address, ...]:
    """Every address ``host`` resolves to, in the resolver's order (a literal: itself).

    Raises OSError (``socket.gaierror``) when the name does not resolve.
    """
    found: dict[Address, None] = {}
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        # An IPv6 link-local answer may carry a zone ("fe80::1%eth0"); the zone does not
        # change what kind of address it is.
        found[ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])] = None
    return tuple(found)
