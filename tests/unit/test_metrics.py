"""The metrics contract: names and labels Grafana depends on, served over real HTTP."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.metrics import Gauges, Metrics, PairGauges
from reconciler.server import Status, StatusServer

D = "sha256:" + "a" * 64


@pytest.fixture
def served() -> Iterator[tuple[Metrics, StatusServer, list[Status]]]:
    metrics = Metrics()
    state = [Status((True, "ok"), (False, "no cycle has completed yet"))]
    server = StatusServer("127.0.0.1:0", metrics, lambda: state[0]).start()
    yield metrics, server, state
    server.stop()


def _get(server: StatusServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{server.address}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_contract_series_are_served(served: tuple[Metrics, StatusServer, list[Status]]) -> None:
    metrics, server, _ = served
    metrics.publish(
        Gauges(
            envs=(
                PairGauges(
                    app="gw",
                    env="prod",
                    desired_digest=D,
                    live_digest="sha256:" + "b" * 64,
                    drift=True,
                    drift_seconds=120.0,
                    lag_seconds=300.0,
                    pending=True,
                    gates=(("soak", False),),
                    blocked=("gate:soaking",),
                ),
            ),
            policy_valid=True,
            last_success=1_790_000_000.0,
            forge_rate_limit_remaining=4999,
        )
    )
    metrics.promotions.labels(env="prod", result="merged").inc()
    metrics.errors.labels(component="forge").inc()
    metrics.forge_requests.labels(method="GET", status="200").inc(3)
    metrics.duration.observe(0.2)
    status, body = _get(server, "/metrics")
    assert status == 200
    samples = _samples(body)
    pair = (("app", "gw"), ("env", "prod"))
    assert samples[("reconciler_drift", pair)] == 1
    assert samples[("reconciler_drift_seconds", pair)] == 120
    assert samples[("reconciler_promotion_lag_seconds", pair)] == 300
    assert (
        samples[("reconciler_desired_image_info", (("app", "gw"), ("digest", D), ("env", "prod")))]
        == 1
    )
    assert (
        samples[("reconciler_gate_passing", (("app", "gw"), ("env", "prod"), ("gate", "soak")))]
        == 0
    )
    assert samples[("reconciler_promotion_pending", pair)] == 1
    assert (
        samples[
            ("reconciler_blocked", (("app", "gw"), ("env", "prod"), ("reason", "gate:soaking")))
        ]
        == 1
    )
    assert samples[("reconciler_promotions_total", (("env", "prod"), ("result", "merged")))] == 1
    assert samples[("reconciler_reconcile_errors_total", (("component", "forge"),))] == 1
    assert samples[("reconciler_forge_requests_total", (("method", "GET"), ("status", "200")))] == 3
    assert samples[("reconciler_reconcile_duration_seconds_count", ())] == 1
    assert samples[("reconciler_last_reconcile_timestamp_seconds", ())] == 1_790_000_000
    assert samples[("reconciler_policy_valid", ())] == 1
    assert samples[("reconciler_forge_rate_limit_remaining", ())] == 4999


def test_series_of_removed_apps_disappear(
    served: tuple[Metrics, StatusServer, list[Status]],
) -> None:
    metrics, server, _ = served
    metrics.publish(Gauges(envs=(PairGauges(app="old", env="prod", desired_digest=D),)))
    assert 'app="old"' in _get(server, "/metrics")[1]
    metrics.publish(Gauges(envs=(PairGauges(app="new", env="prod", desired_digest=D),)))
    body = _get(server, "/metrics")[1]
    assert 'app="old"' not in body
    assert 'app="new"' in body


def test_unknown_drift_is_not_reported_as_zero(
    served: tuple[Metrics, StatusServer, list[Status]],
) -> None:
    metrics, server, _ = served
    metrics.publish(Gauges(envs=(PairGauges(app="gw", env="dev", desired_digest=D, drift=None),)))
    samples = _samples(_get(server, "/metrics")[1])
    assert ("reconciler_drift", (("app", "gw"), ("env", "dev"))) not in samples


def test_probes(served: tuple[Metrics, StatusServer, list[Status]]) -> None:
    _, server, state = served
    assert _get(server, "/healthz") == (200, "ok\n")
    assert _get(server, "/readyz") == (503, "no cycle has completed yet\n")
    state[0] = Status((False, "cycle stuck for 600s"), (True, "ready"))
    assert _get(server, "/healthz") == (503, "cycle stuck for 600s\n")
    assert _get(server, "/readyz") == (200, "ready\n")
    assert _get(server, "/nope")[0] == 404


def test_drift_kinds(served: tuple[Metrics, StatusServer, list[Status]]) -> None:
    metrics, server, _ = served
    metrics.publish(
        Gauges(
            envs=(
                PairGauges(
                    app="gw",
                    env="prod",
                    desired_digest=D,
                    live_digest=D,
                    drift=False,
                    tag_drift=True,
                ),
            )
        )
    )
    samples = _samples(_get(server, "/metrics")[1])
    labels = (("app", "gw"), ("env", "prod"))
    assert samples[("reconciler_drift_kind", (*labels, ("kind", "live")))] == 0
    assert samples[("reconciler_drift_kind", (*labels, ("kind", "registry-tag")))] == 1


@pytest.mark.parametrize(("shard", "expected"), [((0, 1), ("0", 1.0)), ((2, 3), ("2", 3.0))])
def test_each_replica_says_its_shard_and_the_shard_count(
    shard: tuple[int, int], expected: tuple[str, float]
) -> None:
    families = text_string_to_metric_families(Metrics(shard).exposition().decode())
    [family] = [f for f in families if f.name == "reconciler_shards"]
    assert [(s.labels["index"], s.value) for s in family.samples] == [expected]


def test_a_wait_for_the_forge_rate_limit_is_served(
    served: tuple[Metrics, StatusServer, list[Status]],
) -> None:
    metrics, server, _ = served
    resets = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    names = (
        "reconciler_forge_rate_limited",
        "reconciler_forge_rate_limit_reset_timestamp_seconds",
        "reconciler_forge_rate_limit_waits_total",
    )

    def scrape() -> dict[str, float]:
        samples = _samples(_get(server, "/metrics")[1])
        return {name: value for (name, _), value in samples.items() if name in names}

    before = scrape()
    metrics.forge_rate_limited(resets)
    waiting = scrape()
    metrics.forge_rate_limited(None)
    after = scrape()

    assert before == {names[0]: 0.0, names[2]: 0.0}
    assert waiting == {names[0]: 1.0, names[1]: resets.timestamp(), names[2]: 1.0}
    assert after == {names[0]: 0.0, names[2]: 1.0}
