"""PyGithub as the forge's HTTP client: one repository's REST calls (conditional GETs,
paging, retries, rate-limit metering, refusals as the project's errors), and the App's
token endpoint.

PyGithub is the HTTP client (auth, the ``Link``-paged REST API, rate-limit exceptions);
requests go through ``gh.requester`` as JSON so each call is exactly one documented
endpoint. What this adds:

- Conditional GETs: every read keeps the ETag and body of its last 200 and sends
  ``If-None-Match``; GitHub answers 304 without spending rate limit, so an idle cycle is
  free.
- Retries in one urllib3 ``Retry`` (PyGithub's ``GithubRetry``): 5xx with exponential
  backoff; a secondary rate limit waits its ``Retry-After`` (or a minute without one, unless
  that is longer than ``max_wait``). The same object sees every response, so it reports
  each one to ``on_request``.
- A spent rate limit is never asked again (GitHub's "Rate limits for the REST API"): an
  answer's ``x-ratelimit-remaining: 0`` with its ``x-ratelimit-reset``, or a 403/429 refusal's
  ``retry-after``, is kept, and until then every request raises ``RateLimited`` (with the
  time) without being sent; the daemon loop waits for it, interruptibly, between cycles.
- Every request names the media type and API version GitHub's "Getting started with the
  REST API" asks for (``REST_HEADERS``) and says it is the reconciler (``User-Agent``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import github
from github.GithubException import GithubException, RateLimitExceededException
from urllib3.exceptions import MaxRetryError

from reconciler import __version__
from reconciler.clock import utc_now
from reconciler.errors import PermanentError, RateLimited, TransientError
from reconciler.gitrepo.credentials import Secret

DEFAULT_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
# Sent with every request: without them GitHub answers its default version, whatever that
# becomes, and requests says Accept: */*.
REST_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
USER_AGENT = f"reconciler/{__version__}"
_CACHE_LIMIT = 2_000
# GitHub's docs, for a rate-limit refusal that says neither when nor how long: wait a minute.
_UNSAID_WAIT = timedelta(minutes=1)
_REFUSED = (403, 429)  # GitHub answers a spent rate limit with either


# PyGithub adds a StreamHandler of its own to the "github" logger when imported, so its
# records (a retry's "Request GET /repos/... failed with 403", at INFO) reached stderr as raw
# text past the daemon's handler, which withholds library messages (a library may quote a
# credential) and writes JSON for --log-format json. Its records go through that handler only.
for _handler in logging.getLogger("github").handlers[:]:
    if type(_handler) is logging.StreamHandler:
        logging.getLogger("github").removeHandler(_handler)


class _TokenAuth(github.Auth.Auth):
    """A token read at each request (a rotated token file is picked up); never shown."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._read = token

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._read()

    @property
    def _masked_token(self) -> str:
        return "token (removed)"

    def __repr__(self) -> str:
        return "_TokenAuth('***')"


class _Retry(github.GithubRetry):
    """GithubRetry that reports every response and sleeps through an injectable ``pause``."""

    def __init__(
        self,
        *,
        observe: Callable[[str, int], None],
        pause: Callable[[float], None],
        **kwargs: Any,
    ) -> None:
        self._observe = observe
        self._pause = pause
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> _Retry:
        kw.update(observe=self._observe, pause=self._pause)
        return super().new(**kw)

    def is_retry(
        self,
        method: str,
        status_code: int,
        has_retry_after: bool = False,  # noqa: FBT001, FBT002 - urllib3's Retry.is_retry signature
    ) -> bool:
        # urllib3 asks this of every response it receives: the one place that sees them all.
        self._observe(method, status_code)
        return bool(super().is_retry(method, status_code, has_retry_after))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Any:
        spent = response is not None and response.status in _REFUSED
        if spent and str(response.headers.get("X-RateLimit-Remaining", "")) == "0":
            # GithubRetry would sleep here until the reset, maybe an hour, where no stop()
            # reaches it. Giving up hands the refusal back: the client raises RateLimited.
            raise MaxRetryError(_pool, url or "", None)
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: Any = None) -> None:
        after = self.get_retry_after(response) if response is not None else None
        wait = after if after is not None else self.get_backoff_time()
        if wait > 0:
            self._pause(wait)


class Client:
    """The REST API of the repository ``owner/name`` (``api`` is its path), as JSON."""

    def __init__(  # noqa: PLR0913 one repository's API settings, all keyword-only
        self,
        owner: str,
        name: str,
        *,
        token: str | Callable[[], str],
        base_url: str,
        on_request: Callable[[str, int], None] | None,
        on_rate_limit: Callable[[float], None] | None,
        sleep: Callable[[float], None],
        retries: int,
        max_wait: float,
        timeout: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.full_name = f"{owner}/{name}"
        self.base_url = base_url
        self._on_request = on_request
        self._on_rate_limit = on_rate_limit
        self._clock = clock
        self._spent_until: datetime | None = None  # no request before then: GitHub said so
        read = (lambda: token) if isinstance(token, str) else token
        retry = _Retry(
            observe=self._observed,
            pause=sleep,
            total=retries,
            backoff_factor=1.0,
            raise_on_status=False,  # the last answer reaches PyGithub, which raises on it
            max_rate_limit_wait=max_wait,
        )
        self._gh = github.Github(
            base_url=self.base_url,
            auth=_TokenAuth(read),
            timeout=timeout,
            retry=retry,
            per_page=100,
            user_agent=USER_AGENT,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        self.api = f"/repos/{quote(owner)}/{quote(name)}"
        self._etags: dict[str, tuple[str, Any]] = {}  # url -> (ETag, body of its last 200)

    def _observed(self, method: str, status: int) -> None:
        if self._on_request is not None:
            self._on_request(method, status)

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn what GitHub or the network says into the project's errors, secret-free."""
        try:
            yield
        except _Spent as limited:
            raise RateLimited(
                f"could not {what}: {limited}", until=limited.until, service="GitHub"
            ) from None
        except RateLimitExceededException as limited:
            until = spent_until(limited.status, limited.headers or {}, limited.data, self._clock())
            if until is not None:
                self._spent_until = until
                raise RateLimited(
                    f"could not {what}: {_spent_text(until)}", until=until, service="GitHub"
                ) from None
            raise TransientError(
                f"could not {what}: GitHub's rate limit is spent ({reason(limited)}); "
                "it will be tried again next cycle"
            ) from None
        except GithubException as refused:
            said = reason(refused)
            if refused.status >= 500 or refused.status == 429:
                raise TransientError(
                    f"could not {what}: GitHub answered {refused.status} ({said}); "
                    "it will be tried again next cycle"
                ) from None
            if refused.status == 401:
                raise PermanentError(
                    f"could not {what}: GitHub at {self.base_url} rejected the token ({said}); "
                    "check that it is valid and not expired"
                ) from None
            fix = ": the token lacks a permission on " + self.full_name
            raise PermanentError(
                f"could not {what}: GitHub answered {refused.status} ({said})"
                + (fix if refused.status == 403 else "")
            ) from None
        except OSError as failed:  # requests' connection errors are OSErrors
            raise TransientError(
                f"could not {what}: no answer from GitHub at {self.base_url} "
                f"({type(failed).__name__}); it will be tried again next cycle"
            ) from None
        finally:
            remaining = self._gh.requester.rate_limiting[0]
            if self._on_rate_limit is not None and remaining >= 0:
                self._on_rate_limit(float(remaining))

    def list(
        self, url: str, params: dict[str, str], pages: int = 10, per_page: int = 100
    ) -> list[dict[str, Any]]:
        """Every item of a paged list (at most ``pages`` pages), each page a conditional GET."""
        items: list[dict[str, Any]] = []
        query: dict[str, str] | None = {**params, "per_page": str(per_page)}
        next_url: str | None = url
        for _ in range(pages):
            if next_url is None:
                break
            page, link = self._get_page(next_url, query)
            items.extend(page)
            next_url, query = _next_link(link), None
        return items

    def get(self, url: str, params: dict[str, str], *, conditional: bool = True) -> Any:
        """One GET's JSON body, conditional (the last 200's body on a 304) unless told."""
        body, _ = self._get_page(url, params, conditional=conditional)
        return body

    def _get_page(
        self, url: str, params: dict[str, str] | None, *, conditional: bool = True
    ) -> tuple[Any, str]:
        key = url + ("?" + urlencode(sorted(params.items())) if params else "")
        cached = self._etags.get(key) if conditional else None
        headers = {"If-None-Match": cached[0]} if cached else {}
        status, answer, data = self._request("GET", url, params, headers)
        if status == 304 and cached is not None:
            return cached[1][0], cached[1][1]
        link = str(answer.get("link", ""))
        if "etag" in answer:
            if len(self._etags) > _CACHE_LIMIT:
                self._etags.clear()
            self._etags[key] = (str(answer["etag"]), (data, link))
        return data, link

    def write(self, verb: str, url: str, fields: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """One write (POST, PATCH, PUT, DELETE): GitHub's headers and JSON answer."""
        _, answer, data = self._request(verb, url, None, {}, fields)
        return answer, data

    def _request(
        self,
        verb: str,
        url: str,
        params: dict[str, str] | None,
        headers: dict[str, str],
        fields: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any], Any]:
        """Send one request, unless the rate limit is spent; a refusal raises GithubException."""
        if self._spent_until is not None:
            if self._clock() < self._spent_until:
                raise _Spent(_spent_text(self._spent_until), until=self._spent_until)
            self._spent_until = None
        sent = {**REST_HEADERS, **headers}
        status, answer, output = self._gh.requester.requestJson(verb, url, params, sent, fields)
        data = _json(output)
        # The last answer's word on the limit stands: one saying it is spent stops the next
        # request (even a 200, the last one allowed), any other lifts the stop.
        self._spent_until = spent_until(status, answer, data, self._clock())
        if status >= 400:
            if self._spent_until is not None:
                raise _Spent(_spent_text(self._spent_until), until=self._spent_until)
            raise github.Requester.Requester.createException(status, answer, data)
        return status, answer, data


class _JwtAuth(_TokenAuth):
    """A GitHub App's JWT, sent as a bearer token; never shown."""

    @property
    def token_type(self) -> str:
        return "Bearer"

    def __repr__(self) -> str:
        return "_JwtAuth('***')"


class AppTokenEndpoint:
    """``POST /app/installations/{id}/access_tokens`` as a GitHub App (the ``AccessTokens``
    port of ``reconciler.forge.github.app``); answers GitHub's status and JSON body."""

    def __init__(self, base_url: str = DEFAULT_URL, *, timeout: int = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"AppTokenEndpoint({self.base_url!r})"

    def __call__(self, app_jwt: Secret, installation_id: int) -> tuple[int, dict[str, Any]]:
        # A client per call: one call an hour, and the JWT is new each time. No retries:
        # a failed mint is retried by the next request that needs a token.
        gh = github.Github(
            base_url=self.base_url,
            auth=_JwtAuth(app_jwt.reveal),
            timeout=self._timeout,
            retry=None,
            user_agent=USER_AGENT,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        url = f"/app/installations/{installation_id}/access_tokens"
        headers = dict(REST_HEADERS)
        status, _, output = gh.requester.requestJson("POST", url, headers=headers, input={})
        data = _json(output)
        return status, data if isinstance(data, dict) else {}


class _Spent(RateLimited):
    """A spent limit as a request finds it; the guard around it says what was being done."""

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message, until=until, service="GitHub")


def spent_until(
    status: int, headers: Mapping[str, Any], body: Any, now: datetime
) -> datetime | None:
    """Until when an answer says no request may be sent, or None (GitHub's "Rate limits for
    the REST API": ``x-ratelimit-remaining: 0`` until ``x-ratelimit-reset``, epoch seconds;
    a 403/429 refusal's ``retry-after`` seconds; a rate-limit refusal saying neither, 1 min)."""
    said = {str(key).lower(): str(value).strip() for key, value in headers.items()}
    refused = status in _REFUSED
    waits: list[datetime] = []
    reset = said.get("x-ratelimit-reset", "")
    if said.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        at = datetime.fromtimestamp(int(reset), UTC)
        if at > now:
            waits.append(at)
    after = said.get("retry-after", "")
    if refused and after.isdigit():
        waits.append(now + timedelta(seconds=int(after)))
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    limited = said.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()
    if refused and not waits and limited:
        waits.append(now + _UNSAID_WAIT)  # a reset already past by our clock, or none said
    return max(waits) if waits else None


def _spent_text(until: datetime) -> str:
    return f"GitHub's rate limit is spent until {until:%Y-%m-%dT%H:%M:%SZ}, sending nothing before"


def reason(refused: GithubException) -> str:
    """GitHub's ``message`` field of a refusal (never a header or a URL)."""
    data = refused.data if isinstance(refused.data, dict) else {}
    return str(data.get("message") or f"status {refused.status}").strip()


def _json(output: str | object) -> Any:
    if not isinstance(output, str) or not output:
        return None
    try:
        return json.loads(output)
    except ValueError:
        return {"message": output[:200]}


def _next_link(link: str) -> str | None:
    for part in link.split(","):
        target, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return target.strip().strip("<>")
    return None
