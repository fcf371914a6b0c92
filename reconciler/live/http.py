"""The `http` live source: a version endpoint whose JSON names the running digest."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

from reconciler import units
from reconciler.clock import parse_moment
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import HttpError
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.imagerefs import DIGEST_FORMS, digest_problem
from reconciler.policy.model import HttpLive
from reconciler.policy.values import fill
from reconciler.probes import lookup
from reconciler.snapshot import LiveState


class HttpLiveReader:
    """Asks each app's version endpoint; remembers when it first saw each digest.

    Without a ``since_field`` in the policy, "since" is when this process first saw the
    digest running: a restart starts that clock again, which can only make soak longer.
    An endpoint that answers with an ETag is asked conditionally next time: a 304 means
    the same answer, so the same state.
    """

    def __init__(self, source: HttpLive, client: HttpClient, clock: Callable[[], datetime]) -> None:
        self._source = source
        self._client = client
        self._clock = clock
        self._first_seen: dict[tuple[str, str], tuple[str, datetime]] = {}  # the latest only
        self._validated: dict[tuple[str, str], tuple[str, LiveState]] = {}  # ETag, state

    def read(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LiveState]:
        """One LiveState per (app, env), probing all endpoints concurrently."""
        requests = []
        for pair in pairs:
            headers = {"Accept": "application/json"}
            if pair in self._validated:
                headers["If-None-Match"] = self._validated[pair][0]
            url = fill(self._source.url, app=pair[0], env=pair[1])
            requests.append(HttpRequest("GET", url, headers=headers, timeout=self._source.timeout))
        outcomes = self._client.send_all(requests)
        now = self._clock()
        states = {}
        for pair, outcome in zip(pairs, outcomes, strict=True):
            remembered = self._validated.pop(pair, None)
            unchanged = isinstance(outcome, HttpResponse) and outcome.status == 304
            if remembered is not None and unchanged:
                states[pair] = remembered[1]
                self._validated[pair] = remembered
                continue
            states[pair] = state = self._judge(pair, outcome, now)
            tag = outcome.header("etag") if not isinstance(outcome, HttpError) else None
            if tag and state.error is None:
                self._validated[pair] = (tag, state)
        return states

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
        if found and isinstance(digest, dict):
            return self._unit(pair, digest, document, now)
        if not found or not isinstance(digest, str):
            return LiveState(None, error=f"no digest at {self._source.field!r} in the answer")
        problem = digest_problem(digest)
        if problem is not None:
            return LiveState(
                None,
                error=f"{self._source.field!r} in the answer is no digest: {problem} "
                f"(accepted: {DIGEST_FORMS})",
            )
        seen = self._first_seen.get(pair)
        if seen is None or seen[0] != digest:
            seen = self._first_seen[pair] = (digest, now)
        told = self._since(document)
        return LiveState(digest, told or seen[1], sighted=told is None)

    def _unit(
        self, pair: tuple[str, str], running: dict[object, object], document: object, now: datetime
    ) -> LiveState:
        """An app of several images: the field holds each part's digest by part name; the
        unit runs the set they make (reconciler.units), whole or not at all."""
        for name, digest in running.items():
            problem = digest_problem(digest) if isinstance(digest, str) else "not a string"
            if problem is not None:
                return LiveState(
                    None,
                    error=f"{self._source.field!r}.{name} in the answer is no digest: {problem} "
                    f"(accepted: {DIGEST_FORMS})",
                )
        key = units.key({str(name): str(digest) for name, digest in running.items()})
        if not key:
            return LiveState(None, error=f"no digest at {self._source.field!r} in the answer")
        seen = self._first_seen.get(pair)
        if seen is None or seen[0] != key:
            seen = self._first_seen[pair] = (key, now)
        told = self._since(document)
        return LiveState(key, told or seen[1], sighted=told is None)

    def _since(self, document: object) -> datetime | None:
        if self._source.since_field is None:
            return None
        found, value = lookup(document, self._source.since_field)
        return parse_moment(value) if found else None
