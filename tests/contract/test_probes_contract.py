"""The fake prober and the HTTP prober keep the same contract (the Prober port)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.gates import Candidate, evaluate
from reconciler.gates.port import Prober, ProbeRequest
from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import HttpGate
from reconciler.probes import HttpProber
from tests.fakes.probes import FakeProber
from tests.servers.endpoints import Endpoints, reply, serve

ROUND = datetime(2026, 5, 10, 10, 0, tzinfo=UTC)
DIGEST = "sha256:" + "b" * 64

# Builds a prober whose endpoint for each app answers healthy (True) or not (False).
MakeProber = Callable[[dict[str, bool]], tuple[Prober, HttpGate]]


@pytest.fixture
def server() -> Iterator[Endpoints]:
    with serve() as endpoints:
        yield endpoints


@pytest.fixture(params=["fake", "http"])
def make(request: pytest.FixtureRequest, server: Endpoints) -> MakeProber:
    def build(health: dict[str, bool]) -> tuple[Prober, HttpGate]:
        gate = HttpGate(
            name="staging-health",
            kind="http",
            url=server.url("/{app}/healthz"),
            timeout=timedelta(seconds=2),
        )
        if request.param == "fake":
            script = {(gate.name, app): [ok] for app, ok in health.items()}
            return FakeProber(script, clock=lambda: ROUND), gate
        for app, ok in health.items():
            server.routes[f"/{app}/healthz"] = reply(200 if ok else 503)
        return HttpProber(HttpClient(trust_env=False), clock=lambda: ROUND), gate

    return build


def test_one_sample_per_request_in_order(make: MakeProber) -> None:
    prober, gate = make({"a": True, "b": False, "c": True})
    requests = [
        ProbeRequest(gate, "c", "staging", DIGEST),
        ProbeRequest(gate, "a", "staging", None),
        ProbeRequest(gate, "b", "staging", DIGEST),
    ]
    samples = prober.probe(requests)
    assert [(s.app, s.env, s.gate, s.live_digest) for s in samples] == [
        ("c", "staging", "staging-health", DIGEST),
        ("a", "staging", "staging-health", None),
        ("b", "staging", "staging-health", DIGEST),
    ]
    assert [(s.ok, s.status, s.detail) for s in samples] == [
        (True, 200, "status 200"),
        (True, 200, "status 200"),
        (False, 503, "status 503, expected 200"),
    ]
    assert {s.taken_at for s in samples} == {ROUND}


def test_samples_feed_the_gate(make: MakeProber) -> None:
    prober, gate = make({"a": True})
    gate = HttpGate(name=gate.name, kind="http", url=gate.url, successes=1)
    samples = prober.probe([ProbeRequest(gate, "a", "staging", DIGEST)])
    candidate = Candidate("a", "staging", DIGEST, ROUND - timedelta(minutes=1))
    assert evaluate(gate, samples, candidate, ROUND).passed


def test_an_empty_round(make: MakeProber) -> None:
    prober, _ = make({})
    assert prober.probe([]) == []
