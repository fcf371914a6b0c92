"""Answering a registry's ``WWW-Authenticate`` challenges: basic auth or bearer tokens.

The token flow is Docker's (the distribution spec's token authentication): GET the
challenge's realm with ``service`` and ``scope``, with the registry's basic credentials
when the docker config has them, and use the ``token`` (or ``access_token``) of the answer
as a Bearer token until it expires. Tokens are cached by (realm, service, scope). Neither
credentials nor tokens ever reach a message, a log line or a repr; messages say where the
credentials came from (``dockerconfig.Resolution``: a helper, ``auths``, or none and why).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from reconciler.errors import PermanentError
from reconciler.httpclient.addresses import safe_url
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.registry.dockerconfig import DockerCredentials, Resolution
from reconciler.registry.headers import Challenge

DEFAULT_TOKEN_LIFETIME = timedelta(seconds=60)  # the spec's default for a missing expires_in
_MARGIN = timedelta(seconds=5)  # renew a little early: a request takes time to arrive
_EMPTY_CREDENTIALS = DockerCredentials()

# Sends a request on behalf of the registry host (its budget and rate limits apply).
Send = Callable[[str, HttpRequest], HttpResponse]


@dataclass(frozen=True, repr=False)
class _Token:
    value: str = field(repr=False)
    expires: datetime


class Authenticator:
    """Remembers each host's last challenge and holds what answers it."""

    def __init__(
        self,
        credentials: DockerCredentials | None,
        clock: Callable[[], datetime],
        *,
        allow_http_realm: bool,
        timeout: timedelta,
    ) -> None:
        self._credentials = credentials or _EMPTY_CREDENTIALS
        self._clock = clock
        self._allow_http_realm = allow_http_realm
        self._timeout = timeout
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._lock = threading.Lock()
        self.token_requests = 0  # tokens fetched so far (the cache's effect, for tests)

    def header(self, host: str, repository: str, scope: str, send: Send) -> str | None:
        """The ``Authorization`` value to send to ``host`` for ``scope`` before any
        challenge, from the host's last one: None until a challenge was seen."""
        with self._lock:
            challenge = self._challenges.get(host)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            basic = self._credentials.for_host(host)
            return basic.header() if basic else None
        if challenge.scheme == "bearer":
            # The remembered challenge was for another request: ask for this one's scope.
            token = self._cached(challenge, scope) or self._fetch(
                host, repository, challenge, scope=scope, asked=scope, send=send
            )
            return f"Bearer {token}"
        return None

    def answer(
        self, host: str, repository: str, challenge: Challenge | None, scope: str, send: Send
    ) -> str:
        """The ``Authorization`` value answering ``challenge``; PermanentError when
        nothing can (no credentials, an unknown scheme, a token service that refuses)."""
        if challenge is None:
            raise PermanentError(
                f"registry {host} asks for authentication without saying how "
                "(no WWW-Authenticate challenge)"
            )
        with self._lock:
            self._challenges[host] = challenge
        if challenge.scheme == "basic":
            basic = self._credentials.for_host(host)
            if basic is None:
                raise PermanentError(self._no_credentials(host, repository))
            return basic.header()
        if challenge.scheme == "bearer":
            asked = challenge.params.get("scope") or scope
            token = self._cached(challenge, scope) or self._fetch(
                host, repository, challenge, scope=scope, asked=asked, send=send
            )
            return f"Bearer {token}"
        raise PermanentError(
            f"registry {host} asks for {challenge.scheme!r} authentication, which the daemon "
            "does not speak (it speaks Basic and Bearer tokens)"
        )

    def refused(self, host: str, repository: str) -> PermanentError:
        """The error for credentials the registry still refuses after a challenge; the
        helper that gave them is asked again on the next request (``forget``)."""
        found = self._credentials.resolve(host)
        self._credentials.forget(host)
        if found.credentials is None:
            return PermanentError(self._no_credentials(host, repository, found))
        return PermanentError(
            f"registry {host} refused the credentials for {host} from {found.source} "
            f"for {repository}: {found.fix} on the repository"
        )

    def source(self, host: str) -> Resolution:
        """Where the credentials for ``host`` come from (a helper may be run to know)."""
        return self._credentials.resolve(host)

    def _no_credentials(self, host: str, repository: str, found: Resolution | None = None) -> str:
        found = found or self._credentials.resolve(host)
        return (
            f"registry {host} requires credentials for {repository} and the daemon has none: "
            f"{found.detail}; {found.fix}"
        )

    def _key(self, challenge: Challenge, scope: str) -> tuple[str, str, str]:
        return (challenge.realm or "", challenge.params.get("service", ""), scope)

    def _cached(self, challenge: Challenge, scope: str) -> str | None:
        with self._lock:
            token = self._tokens.get(self._key(challenge, scope))
        if token is None or self._clock() >= token.expires:
            return None
        return token.value

    def _fetch(
        self,
        host: str,
        repository: str,
        challenge: Challenge,
        *,
        scope: str,
        asked: str,
        send: Send,
    ) -> str:
        """A token for ``asked`` (what the registry's challenge names), cached for ``scope``
        (what this request needs)."""
        realm = challenge.realm or ""
        scheme = urlsplit(realm).scheme
        if scheme not in ("http", "https") or (scheme == "http" and not self._allow_http_realm):
            raise PermanentError(
                f"registry {host} names a token service that is not an https URL "
                f"({safe_url(realm) if scheme else 'none'}): refused, credentials are never "
                "sent in clear (plain_http allows it for a registry on a private network)"
            )
        query = {"scope": asked}
        if "service" in challenge.params:
            query["service"] = challenge.params["service"]
        headers = {"Accept": "application/json"}
        basic = self._credentials.for_host(host)
        if basic is not None:
            headers["Authorization"] = basic.header()
        separator = "&" if "?" in realm else "?"
        request = HttpRequest(
            "GET", realm + separator + urlencode(query), headers, timeout=self._timeout
        )
        started = self._clock()
        response = send(host, request)
        with self._lock:
            self.token_requests += 1
        if response.status in (401, 403):
            raise self.refused(host, repository)
        if response.status != 200:
            raise PermanentError(
                f"the token service of registry {host} ({safe_url(realm)}) answered "
                f"{response.status}"
            )
        token, lifetime = _token_of(response.body)
        if token is None:
            raise PermanentError(
                f"the token service of registry {host} ({safe_url(realm)}) answered without a token"
            )
        with self._lock:
            expires = started + lifetime - min(_MARGIN, lifetime / 2)
            self._tokens[self._key(challenge, scope)] = _Token(token, expires)
        return token


def _token_of(body: bytes) -> tuple[str | None, timedelta]:
    try:
        document = json.loads(body)
    except ValueError:
        return None, DEFAULT_TOKEN_LIFETIME
    if not isinstance(document, dict):
        return None, DEFAULT_TOKEN_LIFETIME
    token = document.get("token") or document.get("access_token")
    seconds = document.get("expires_in")
    lifetime = (
        timedelta(seconds=seconds)
        if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0
        else DEFAULT_TOKEN_LIFETIME
    )
    return (token if isinstance(token, str) and token else None), lifetime
