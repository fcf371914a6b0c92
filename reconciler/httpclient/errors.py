"""The typed errors a request without a usable response raises; none quotes a header value."""

from __future__ import annotations

from typing import ClassVar

from reconciler.errors import PermanentError, ReconcilerError, TransientError
from reconciler.httpclient.addresses import safe_url


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
