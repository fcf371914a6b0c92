"""The `http` live source: a version endpoint whose JSON names the running digest."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

from reconciler.httpclient import HttpClient, HttpError, HttpRequest, HttpResponse
from reconciler.policy.model import HttpLive
from reconciler.policy.values import fill
from reconciler.probes import lookup
from reconciler.snapshot import LiveState

_DIGEST_PREFIX = "sha256:"


class HttpLiveReader:
    """Asks each app's version endpoint; remembers when it first saw each digest.

    Without a ``since_field`` in the policy, "since" is when this process first saw the
    digest running: a restart starts that clock again, which can only make soak longer.
    """

    def __init__(self, source: HttpLive, client: HttpClient, clock: Callable[[], datetime]) -> None:
        self._source = source
        self._client = client
        self._clock = clock
        self._first_seen: dict[tuple[str, str, str], datetime] = {}

    def read(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LiveState]:
        """One LiveState per (app, env), probing all endpoints concurrently."""
        requests = [
            HttpRequest(
                "GET",
                fill(self._source.url, app=app, env=env),
                headers={"Accept": "application/json"},
                timeout=self._source.timeout,
            )
            for app, env in pairs
        ]
        outcomes = self._client.send_all(requests)
        now = self._clock()
        return {
            pair: self._judge(pair, outcome, now)
            for pair, outcome in zip(pairs, outcomes, strict=True)
        }

    def _judge(
        self, pair: tuple[str, str], outcome: HttpResponse | HttpError, now: datetime
    ) -> LiveState:
        if isinstance(outcome, HttpError):
            return LiveState(None, error=str(outcome))
        if outcome.status != 200:
            return LiveState(None, error=f"version endpoint answered {outcome.status}")
        try:
            document = json.loads(outcome.body)
        except ValueError:
            return LiveState(None, error="version endpoint did not answer JSON")
        found, digest = lookup(document, self._source.field)
        if not found or not isinstance(digest, str) or not digest.startswith(_DIGEST_PREFIX):
            return LiveState(None, error=f"no digest at {self._source.field!r} in the answer")
        since = self._since(document) or self._first_seen.setdefault((*pair, digest), now)
        return LiveState(digest, since)

    def _since(self, document: object) -> datetime | None:
        if self._source.since_field is None:
            return None
        found, value = lookup(document, self._source.since_field)
        if not found or not isinstance(value, str):
            return None
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None
