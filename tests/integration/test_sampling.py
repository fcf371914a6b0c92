"""Gate sampling as the daemon does it: bounded rounds, stalest first, samples bound to what ran.

The demo's config repo with its gates and live sources on a real loopback HTTP server; the
observer is the one `wiring.build` makes, its prober bounded more tightly where a test
needs rounds that cannot take everything. Dev pins A and staging B, so both edges have a
candidate; the gates probed: `health` on dev (for staging), `health` and `smoke` on staging
(for prod), each while its environment runs the candidate.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.settled import push
from reconciler.gates import Sample
from reconciler.gates.port import ProbeRequest
from reconciler.gitrepo.port import ReadView
from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import HttpGate
from reconciler.probes import HttpProber
from reconciler.settings import Settings
from reconciler.wiring import Wired, build
from tests.integration.runproc import config_repo
from tests.servers.endpoints import Endpoints, hang, reply_json, serve

APP = "order-gateway"
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64
PROBED = [("health", "dev"), ("health", "staging"), ("smoke", "staging")]


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    with serve() as found:
        yield found


def daemon_parts(tmp_path: Path, endpoints: Endpoints, timeout: str = "2s") -> Wired:
    repo = config_repo(
        tmp_path / "config.git",
        endpoints.url(""),
        lambda p: p.replace('interval = "100ms"', f'interval = "100ms"\ntimeout = "{timeout}"'),
        pins={"dev": A, "staging": B},
    )
    return build(Settings(repo=str(repo), cache_dir=tmp_path / "cache"))


def samples(wired: Wired) -> list[Sample]:
    return list(wired.runner.observer.observe().snapshot.samples)


def version(running: dict[str, str], env: str) -> Any:
    """A version endpoint answering what ``running[env]`` says at the time of the request."""

    def route(handler: Any, endpoints: Endpoints) -> None:
        reply_json({"digest": running[env]})(handler, endpoints)

    return route


def test_a_sample_whose_live_digest_moved_during_the_round_is_dropped(
    tmp_path: Path, endpoints: Endpoints
) -> None:
    running = {"dev": A, "staging": B, "prod": A}
    for env in running:
        endpoints.routes[f"/{env}/{APP}/version"] = version(running, env)

    def rollout_while_probed(handler: Any, found: Endpoints) -> None:
        running["staging"] = C  # staging rolls out C while its health is being probed
        reply_json({"status": "ok"})(handler, found)

    endpoints.routes[f"/dev/{APP}/healthz"] = reply_json({"status": "ok"})
    endpoints.routes[f"/staging/{APP}/healthz"] = rollout_while_probed
    endpoints.routes[f"/staging/{APP}/smoke"] = reply_json({"status": "ok"})
    wired = daemon_parts(tmp_path, endpoints)

    first = samples(wired)
    # dev did not move: kept, bound to A. staging moved B -> C within the round: both of its
    # samples could be of either digest, so neither is kept (none is failed either).
    assert [(s.gate, s.env, s.live_digest, s.ok) for s in first] == [("health", "dev", A, True)]
    reads = [p for p in endpoints.paths() if p.endswith("/version")]
    # Once before the round for every environment, once after it for each one probed.
    assert sorted(reads) == sorted(
        [f"/{env}/{APP}/version" for env in ("dev", "dev", "staging", "staging", "prod")]
    )

    # Next cycle staging runs C, not the candidate B: nothing of staging is probed.
    assert not [s for s in samples(wired) if s.env == "staging"]
    # Back on B before and after the round: its samples are taken, bound to B.
    running["staging"] = B
    endpoints.routes[f"/staging/{APP}/healthz"] = reply_json({"status": "ok"})
    kept = sorted((s.gate, s.env, s.live_digest) for s in samples(wired) if s.env == "staging")
    assert kept == [("health", "staging", B), ("smoke", "staging", B)]


def test_rounds_left_short_by_their_budget_take_the_stalest_probes_first(
    tmp_path: Path, endpoints: Endpoints
) -> None:
    for env, digest in (("dev", A), ("staging", B), ("prod", A)):
        endpoints.routes[f"/{env}/{APP}/version"] = reply_json({"digest": digest})
    for gate, env in PROBED:
        endpoints.routes[f"/{env}/{APP}/{'healthz' if gate == 'health' else gate}"] = hang()
    wired = daemon_parts(tmp_path, endpoints, timeout="1s")
    # One lane and a budget of 1.5 timeouts: a hanging probe holds the lane for its whole
    # second, after which no other fits, so each round takes exactly one probe.
    observer = wired.runner.observer
    observer.prober = HttpProber(HttpClient(), concurrency=1, budget=timedelta(seconds=1.5))

    seen: Counter[tuple[str, str]] = Counter()
    taken, kept = [], []
    for _ in range(4):
        kept = samples(wired)
        now = Counter((s.gate, s.env) for s in kept)
        taken.append(sorted((now - seen).elements()))
        seen = now
    # Round by round, the probe left out longest goes first.
    assert taken == [
        [("health", "dev")],
        [("health", "staging")],
        [("smoke", "staging")],
        [("health", "dev")],
    ]
    # A probe left out has no sample at all; those taken hung for their whole timeout.
    assert all("no complete response" in s.detail and not s.ok for s in kept), kept


def test_a_stop_cancels_the_probes_in_flight_and_none_becomes_a_sample(
    endpoints: Endpoints,
) -> None:
    arrived = threading.Event()
    stop = threading.Event()
    inner = hang()

    def hanging(handler: Any, found: Endpoints) -> None:
        arrived.set()
        inner(handler, found)

    endpoints.routes["/slow"] = hanging
    endpoints.routes["/fast"] = reply_json({"status": "ok"})
    gate = HttpGate(
        name="h", kind="http", url=endpoints.url("/slow"), timeout=timedelta(seconds=30)
    )
    fast = HttpGate(name="f", kind="http", url=endpoints.url("/fast"))
    prober = HttpProber(HttpClient(), concurrency=1, stopping=stop.is_set)

    def stop_once_the_probe_hangs() -> None:
        assert arrived.wait(30)
        stop.set()

    threading.Thread(target=stop_once_the_probe_hangs, daemon=True).start()
    requests = [ProbeRequest(gate, "a", "staging", A), ProbeRequest(fast, "a", "staging", A)]
    # The hanging probe is cancelled, the one waiting for the lane never starts: no sample.
    assert prober.probe(requests) == []
    assert endpoints.paths() == ["/slow"]


def _probes(endpoints: Endpoints) -> list[str]:
    return [p for p in endpoints.paths() if not p.endswith("/version")]


def test_a_settled_repo_sends_no_probes_and_a_new_candidate_is_probed_in_its_first_cycle(
    tmp_path: Path, endpoints: Endpoints
) -> None:
    running = {"dev": A, "staging": A, "prod": A}
    for env in running:
        endpoints.routes[f"/{env}/{APP}/version"] = version(running, env)
        for gate in ("healthz", "smoke"):
            endpoints.routes[f"/{env}/{APP}/{gate}"] = reply_json({"status": "ok"})
    repo = config_repo(
        tmp_path / "config.git", endpoints.url(""), pins={"dev": A, "staging": A, "prod": A}
    )
    wired = build(Settings(repo=str(repo), cache_dir=tmp_path / "cache"))
    for _ in range(3):  # settled: every environment pins and runs A
        assert samples(wired) == []
    assert _probes(endpoints) == []

    # CI pins B in dev; dev does not run it yet: staging's gate has nothing to sample.
    push(repo, tmp_path / "ci", lambda view: _pin(view, "dev", B), "ci: pin B in dev")
    assert samples(wired) == []
    assert _probes(endpoints) == []
    # Dev runs B: the cycle that sees it probes dev's health, bound to B.
    running["dev"] = B
    taken = samples(wired)
    assert [(s.gate, s.env, s.live_digest) for s in taken] == [("health", "dev", B)]
    assert _probes(endpoints) == [f"/dev/{APP}/healthz"]
    assert wired.runner.observer.sampler.next_due is not None  # a streak of 2 to finish


def _pin(view: ReadView, env: str, digest: str) -> dict[str, bytes | None]:
    path = f"overlays/{env}/kustomization.yaml"
    data = view.read(path)
    assert data is not None
    return {path: re.sub(rb"sha256:[0-9a-f]{64}", digest.encode(), data)}
