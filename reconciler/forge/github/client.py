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
  backoff; a secondary rate limit waits its ``Retry-After``; a spent primary limit waits
  for its reset, unless that is longer than ``max_wait`` (then: TransientError, next cycle).
  The same object sees every response, so it reports each one to ``on_request``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import github
from github.GithubException import GithubException, RateLimitExceededException

from reconciler.errors import PermanentError, TransientError
from reconciler.gitrepo.credentials import Secret

DEFAULT_URL = "https://api.github.com"
_CACHE_LIMIT = 2_000


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
    ) -> None:
        self.full_name = f"{owner}/{name}"
        self.base_url = base_url
        self._on_request = on_request
        self._on_rate_limit = on_rate_limit
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
        except RateLimitExceededException as limited:
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
        status, answer, output = self._gh.requester.requestJson("GET", url, params, headers)
        if status == 304 and cached is not None:
            return cached[1][0], cached[1][1]
        data = _json(output)
        if status >= 400:
            raise github.Requester.Requester.createException(status, answer, data)
        link = str(answer.get("link", ""))
        if "etag" in answer:
            if len(self._etags) > _CACHE_LIMIT:
                self._etags.clear()
            self._etags[key] = (str(answer["etag"]), (data, link))
        return data, link

    def write(self, verb: str, url: str, fields: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """One write (POST, PATCH, PUT, DELETE): GitHub's headers and JSON answer."""
        return self._gh.requester.requestJsonAndCheck(verb, url, input=fields)


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
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        url = f"/app/installations/{installation_id}/access_tokens"
        status, _, output = gh.requester.requestJson("POST", url, input={})
        data = _json(output)
        return status, data if isinstance(data, dict) else {}


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
