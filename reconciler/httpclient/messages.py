"""What callers pass and get back: frozen ``HttpRequest`` and ``HttpResponse`` values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Literal

from reconciler.httpclient.addresses import PrivateRedirects, is_http, safe_url
from reconciler.httpclient.errors import InvalidRequest

RedirectPolicy = Literal["none", "same-host", "any"]

DEFAULT_TIMEOUT = timedelta(seconds=10)
DEFAULT_MAX_BODY = 1_048_576
NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\t\x20-\x7e]*")


# Header values are treated as secrets: they appear in no repr, error or log line, and a
# redirect that leaves the host does not carry them (reconciler.httpclient.redirects).
@dataclass(frozen=True, repr=False)
class HttpRequest:
    """One request; ``timeout`` bounds the whole exchange, redirects and body included."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=lambda: NO_HEADERS)
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


def check_request(request: HttpRequest) -> None:
    """Raise ``InvalidRequest`` unless ``request`` can be sent as given."""
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
    if not is_http(request.url):
        raise InvalidRequest(f"{safe_url(request.url)} is not an http(s) URL", request.url)
