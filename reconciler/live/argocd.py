"""The `argocd` live source: an Argo CD Application's sync and health status and images.

Applications are kept current by Argo CD's stream ``GET {server}/api/v1/stream/applications``
(``argocdwatch.py``), opened at the second read so that a one-cycle command opens none. An
application the stream has not told is asked for with ``GET {server}/api/v1/applications/
{name}``, as is every one when the server refuses the stream. The bearer token is read from
a file or an environment variable for each cycle's GETs and each new stream, so a rotated
token is picked up; it appears in no message, repr or log line.

The running digest is the app's image in ``status.summary.images``; while the Application
is not Synced, is Progressing or has a sync operation running, the state is ``rolling``.
"Since" is when the last successful sync finished (``status.operationState.finishedAt``,
else the last ``status.history`` entry), and never later than when this process first saw
the digest: a later sync that leaves the image alone does not restart soak.
``status.reconciledAt`` is not used: it moves at every reconciliation (minutes), so soak
would never pass.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reconciler.clock import parse_moment
from reconciler.httpclient.addresses import safe_url
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import HttpError
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.imagerefs import parse_image, repository_of
from reconciler.live.argocdwatch import IDLE_SECONDS, WATCH_SECONDS, ApplicationWatch, StreamFailure
from reconciler.live.port import LiveReader
from reconciler.policy.model import ArgoCDLive
from reconciler.policy.values import fill
from reconciler.snapshot import ApplicationStatus, LiveState

Pair = tuple[str, str]  # (app, env)


class _Failure(StreamFailure):
    """The message is for the user and holds no secret."""


class ArgoCDLiveReader:
    """Reads each app's Application; ``images`` maps app names to repositories.

    What the stream told is served while it is open, and for ``stale_after`` after it
    drops; anything else is asked for with a GET.
    """

    def __init__(  # noqa: PLR0913 the reader's settings, all keyword-only after the clock
        self,
        source: ArgoCDLive,
        images: Mapping[str, str],
        client: HttpClient,
        clock: Callable[[], datetime],
        *,
        environ: Mapping[str, str] | None = None,
        stale_after: timedelta = timedelta(seconds=30),
        watch_seconds: float = WATCH_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
        units: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._source = source
        self._images = dict(images)
        self._units = dict(units or {})  # an app of several images: part -> repository
        self._client = client
        self._clock = clock
        self._environ = os.environ if environ is None else environ
        self._seen: dict[Pair, tuple[str, datetime]] = {}  # the digest steady and since
        self._stale_after = stale_after.total_seconds()
        self._watch = ApplicationWatch(
            source.server,
            client,
            headers=self._headers,
            parse=parse_application,
            timeout=source.timeout,
            watch_seconds=watch_seconds,
            idle_seconds=idle_seconds,
        )
        self._reads = 0
        # Argo CD's own namespace, learnt from a GET without appNamespace: the stream tells
        # applications of every namespace, a GET without it reads Argo CD's own.
        self._home: str | None = None

    def __repr__(self) -> str:
        return (
            f"ArgoCDLiveReader(env={self._source.env!r}, server={safe_url(self._source.server)!r})"
        )

    def read(self, pairs: Sequence[Pair]) -> dict[Pair, LiveState]:
        """One LiveState per (app, env), all Applications asked concurrently."""
        statuses = self.statuses(pairs)
        now = self._clock()
        return {pair: self.live_state(pair, statuses[pair], now) for pair in pairs}

    def statuses(self, pairs: Sequence[Pair]) -> dict[Pair, ApplicationStatus]:
        """What Argo CD says of each pair's Application (for the live state and the gate)."""
        names = {pair: fill(self._source.application, app=pair[0], env=pair[1]) for pair in pairs}
        namespace = self._source.app_namespace or self._home
        told = self._watch.told(names.values(), namespace, self._stale_after) if namespace else {}
        found = {pair: told[name] for pair, name in names.items() if name in told}
        found.update(self._get([pair for pair in pairs if pair not in found], names))
        if pairs:
            self._reads += 1
            if self._reads == 2:
                self._watch.start()
        return {pair: found[pair] for pair in pairs}

    def close(self) -> None:
        """Stop the stream's thread."""
        self._watch.close()

    def _get(
        self, pairs: Sequence[Pair], names: Mapping[Pair, str]
    ) -> dict[Pair, ApplicationStatus]:
        if not pairs:
            return {}
        try:
            headers = self._headers()
        except _Failure as failure:
            return {
                pair: ApplicationStatus(application=names[pair], error=str(failure))
                for pair in pairs
            }
        requests = [
            HttpRequest("GET", self._url(names[pair]), headers, timeout=self._source.timeout)
            for pair in pairs
        ]
        outcomes = self._client.send_all(requests)
        return {
            pair: self._status(names[pair], pair[1], outcome)
            for pair, outcome in zip(pairs, outcomes, strict=True)
        }

    def live_state(self, pair: Pair, status: ApplicationStatus, now: datetime) -> LiveState:
        """What ``status`` says runs for ``pair``; remembers when each digest was first steady."""
        if status.error is not None:
            return LiveState(None, error=status.error)
        repository = self._images.get(pair[0])
        parts = self._units.get(pair[0])
        if repository is None and parts is None:
            return LiveState(None, error=f"no image is known for {pair[0]}")
        try:
            if parts is not None:
                digests = unit_digests(status.images, parts)
            else:
                assert repository is not None
                digests = app_digests(status.images, repository)
        except ValueError as problem:
            return LiveState(None, error=f"Argo CD application {status.application}: {problem}")
        rolling = (
            status.sync != "Synced"
            or status.health == "Progressing"
            or status.operation == "Running"
        )
        seen = self._seen.get(pair)
        if seen is not None and (len(digests) != 1 or seen[0] != digests[0]):
            del self._seen[pair]
            seen = None
        if len(digests) > 1:  # two versions of the app at once: which one is unknown
            return LiveState(None, rolling=True)
        if rolling:
            return LiveState(digests[0], rolling=True)
        since = status.synced_at or now
        if seen is not None:
            since = min(since, seen[1])
        self._seen[pair] = (digests[0], since)
        return LiveState(digests[0], since)

    # -- requests and answers ------------------------------------------------------------------
    def _url(self, name: str) -> str:
        url = f"{self._source.server.rstrip('/')}/api/v1/applications/{quote(name, safe='')}"
        if self._source.app_namespace:
            url += f"?appNamespace={quote(self._source.app_namespace, safe='')}"
        return url

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self._token()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _token(self) -> str | None:
        source = self._source
        if source.token_file is not None:
            path = Path(source.token_file)
            try:
                token = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                raise _Failure(f"the Argo CD token file {path} does not exist") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise _Failure(
                    f"cannot read the Argo CD token file {path} ({type(exc).__name__})"
                ) from None
            if not token:
                raise _Failure(f"the Argo CD token file {path} is empty")
            return token
        if source.token_env is not None:
            token = self._environ.get(source.token_env, "").strip()
            if not token:
                raise _Failure(
                    f"the environment variable {source.token_env} (the Argo CD token) is not set"
                )
            return token
        return None  # Argo CD with anonymous access enabled

    def _status(self, name: str, env: str, outcome: HttpResponse | HttpError) -> ApplicationStatus:
        if isinstance(outcome, HttpError):
            return ApplicationStatus(application=name, error=str(outcome))
        server = safe_url(self._source.server)
        if outcome.status != 200:
            return ApplicationStatus(
                application=name, error=_refusal(outcome.status, server, name, env)
            )
        try:
            document = json.loads(outcome.body)
            status = parse_application(name, document)
            if self._home is None and not self._source.app_namespace:
                home = (document.get("metadata") or {}).get("namespace")
                self._home = home if isinstance(home, str) and home else None
            return status
        except (ValueError, TypeError, AttributeError):
            return ApplicationStatus(
                application=name,
                error=f"Argo CD at {server} answered application {name!r} in an unknown shape",
            )


def parse_application(name: str, document: Any) -> ApplicationStatus:
    """The fields of an Application object (as Argo CD's API answers it) the reader uses."""
    status = document.get("status") or {}
    operation = status.get("operationState") or {}
    phase = operation.get("phase")
    synced_at = _time(operation.get("finishedAt")) if phase == "Succeeded" else None
    history = status.get("history") or []
    if synced_at is None and history:
        synced_at = _time(history[-1].get("deployedAt"))
    images = (status.get("summary") or {}).get("images") or []
    if not all(isinstance(i, str) for i in images):
        raise ValueError("status.summary.images holds something other than strings")
    return ApplicationStatus(
        application=name,
        sync=(status.get("sync") or {}).get("status"),
        health=(status.get("health") or {}).get("status"),
        images=tuple(images),
        operation=phase,
        synced_at=synced_at,
    )


def app_digests(images: Sequence[str], repository: str) -> list[str]:
    """The distinct digests of ``repository`` among ``images``, in order of appearance.

    Raises ValueError when the repository is absent, or present by tag only: a tag does
    not say which digest runs.
    """
    wanted = repository_of(repository)  # normalised: docker.io/nginx is library/nginx
    mine = [image for image in images if wanted is not None and repository_of(image) == wanted]
    digests = list(dict.fromkeys(d for d in (parse_image(i).digest for i in mine) if d))
    if digests:
        return digests
    if mine:
        raise ValueError(
            f"reports {mine[0]} by tag only, not which digest runs: pin the overlay by digest"
        )
    listed = ", ".join(images) or "none"
    raise ValueError(f"runs no image of {repository} (images: {listed})")


def unit_digests(images: Sequence[str], parts: Mapping[str, str]) -> list[str]:
    """The unit keys (reconciler.units) ``images`` can make of each part's digests: one
    while every part runs one digest; several (ambiguous: rolling) when a part runs two.

    Raises ValueError as ``app_digests`` does for a part that runs no digest.
    """
    each = {
        name: [f"{name}={digest}" for digest in app_digests(images, repository)]
        for name, repository in parts.items()
    }
    keys = [""]
    for name in sorted(each):
        keys = [f"{key},{pair}" if key else pair for key in keys for pair in each[name]]
    return keys


def _refusal(status: int, server: str, name: str, env: str) -> str:
    if status == 401:
        return (
            f"Argo CD at {server} rejected the token (401): it is missing, invalid or expired; "
            f"give a valid API token in token_file or token_env of [live.{env}]"
        )
    if status == 403:
        return (
            f"Argo CD at {server} denied get on application {name!r} (403): the token's "
            f"account needs the RBAC permission applications, get, <project>/{name}; Argo CD "
            "also answers 403 for an application that does not exist"
        )
    if status == 404:
        return (
            f"Argo CD at {server} has no application {name!r} (404): check application "
            f"(and app_namespace) in [live.{env}]"
        )
    return f"Argo CD at {server} answered {status} for application {name!r}"


def _time(value: Any) -> datetime | None:
    return parse_moment(value)


_PORT: type[LiveReader] = ArgoCDLiveReader
