"""A real Prometheus scrapes the daemon's /metrics and evaluates deploy/prometheus/rules.yaml.

The test publishes the reports a daemon would after each cycle of a demo-like story and waits
(bounded polling of Prometheus's HTTP API) for what an SRE would see: every dashboard query
answers, prod drift appears when prod runs a digest git does not pin and clears when fixed,
alerts go pending when their condition holds and leave when it is gone, removed apps vanish.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from reconciler.metrics import Gauges, Metrics, PairGauges
from reconciler.server import Status, StatusServer
from tests.integration.test_dashboard import (
    load_dashboard,
    panel_queries,
    selectors,
    substitute,
    variable_selectors,
)
from tests.servers.prometheus import PromAPI, Result, run_prometheus

# Rate windows in the dashboard become this: a few 1s scrapes, enough for rate() to answer.
RATE_WINDOW = "5s"

D_OLD = "sha256:" + "a1" * 32
D_NEW = "sha256:" + "b2" * 32
D_HAND = "sha256:" + "c3" * 32  # what someone deployed by hand: no overlay pins it


@dataclass
class Daemon:
    """The daemon's metrics, served for real; ``cycle`` publishes what a cycle would."""

    metrics: Metrics
    server: StatusServer
    serving: bool = True

    def cycle(self, report: Gauges) -> None:
        """Record one completed cycle: its duration, then its report."""
        self.metrics.duration.observe(0.05)
        self.metrics.publish(report)

    def stop(self) -> None:
        """Stop serving /metrics (once)."""
        if self.serving:
            self.server.stop()
            self.serving = False


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    """A fresh daemon's metrics endpoint: no cycle has completed yet."""
    metrics = Metrics()
    server = StatusServer(
        "127.0.0.1:0", metrics, lambda: Status((True, "ok"), (True, "ok"))
    ).start()
    running = Daemon(metrics, server)
    yield running
    running.stop()


@pytest.fixture
def prometheus(daemon: Daemon, tmp_path: Path) -> Iterator[PromAPI]:
    """A real Prometheus scraping the daemon every second and evaluating the rules."""
    with run_prometheus(daemon.server.address, tmp_path) as api:
        yield api


def env(app: str, name: str, desired: str, live: str, **more: Any) -> PairGauges:
    """One (app, env) as a cycle reports it; drift follows from desired and live."""
    return PairGauges(
        app=app, env=name, desired_digest=desired, live_digest=live, drift=desired != live, **more
    )


def story(prod_live: str, *, policy_valid: bool, budget: float, payments: bool) -> Gauges:
    """The demo's order-gateway, its dev digest waiting for review into prod, plus payments."""
    prod: dict[str, Any] = {
        "lag_seconds": 900.0,
        "pending": True,
        "gates": (("soak", True), ("window", True)),
        "blocked": ("awaiting-review",),
        "drift_seconds": 0.0 if prod_live == D_OLD else 1200.0,
    }
    envs = [
        env("order-gateway", "dev", D_NEW, D_NEW),
        env("order-gateway", "staging", D_NEW, D_NEW, gates=(("health", True),)),
        env("order-gateway", "prod", D_OLD, prod_live, **prod),
    ]
    if payments:
        envs += [env("payments", e, D_OLD, D_OLD) for e in ("dev", "staging", "prod")]
    return Gauges(tuple(envs), policy_valid, time.time(), budget)


def test_prometheus_sees_the_dashboard_series_drift_and_alerts(
    daemon: Daemon, prometheus: PromAPI
) -> None:
    dashboard = load_dashboard()
    metrics = daemon.metrics
    rules = [r for g in prometheus.get("/api/v1/rules")["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} >= {"ReconcilerProdDrift", "env:reconciler_drift:sum"}

    # Started, scraped, no cycle completed yet: "not reconciling" goes pending.
    prometheus.wait_value("reconciler_policy_valid", {"job": "reconciler"}, 1)
    prometheus.wait(
        "ReconcilerNotReconciling before the first cycle",
        partial(prometheus.alerting, "ReconcilerNotReconciling"),
    )

    # Cycle 1: git and live agree everywhere; a prod promotion waits for review.
    metrics.promotions.labels(env="staging", result="merged").inc()
    metrics.promotions.labels(env="prod", result="opened").inc()
    metrics.forge_requests.labels(method="GET", status="200").inc(7)
    metrics.errors.labels(component="apply").inc()
    daemon.cycle(story(D_OLD, policy_valid=True, budget=4800, payments=True))
    prod = {"app": "order-gateway", "env": "prod"}
    prometheus.wait_value("reconciler_drift", prod, 0)
    prometheus.wait(
        "ReconcilerNotReconciling to clear after a completed cycle",
        partial(prometheus.quiet, "ReconcilerNotReconciling"),
    )

    # Every panel query and every variable answers (rate windows need a few scrapes).
    for title, ref, expr in panel_queries(dashboard):
        promql = substitute(expr, dashboard, __rate_interval=RATE_WINDOW)
        prometheus.wait(f"panel {title} [{ref}]: {promql}", partial(prometheus.answers, promql))
    values = {"app": {"order-gateway", "payments"}, "env": {"dev", "staging", "prod"}}
    for name, selector, label in variable_selectors(dashboard):
        found = {s["metric"].get(label) for s in prometheus.query(substitute(selector, dashboard))}
        assert found == values[label], f"variable {name}: {found}"

    # Every series an alert or recording rule reads is there, and every rule evaluates.
    for rule in rules:
        for selector in selectors(rule["query"]):
            assert prometheus.query(selector), f"{rule['name']}: {selector} is empty"

    def all_rules_healthy() -> bool:
        current = [r for g in prometheus.get("/api/v1/rules")["groups"] for r in g["rules"]]
        return all(r["health"] == "ok" for r in current)

    prometheus.wait("every rule evaluated without error", all_rules_healthy)

    # The overview table in sync: prod's desired and live short digests are the same.
    overview = {ref: expr for title, ref, expr in panel_queries(dashboard) if "Apps by" in title}
    desired = prometheus.query(substitute(overview["A"], dashboard))
    live = prometheus.query(substitute(overview["B"], dashboard))

    def short(result: Result, column: str) -> str:
        return str(next(s["metric"][column] for s in result if prod.items() <= s["metric"].items()))

    assert short(desired, "desired") == short(live, "live") == D_OLD[7:19]

    # Cycle 2: prod runs a digest no overlay pins; the policy breaks; the forge budget drains.
    metrics.errors.labels(component="apply").inc()
    daemon.cycle(story(D_HAND, policy_valid=False, budget=20, payments=True))
    prometheus.wait_value("reconciler_drift", prod, 1)
    prometheus.wait_value('reconciler_live_image_info{env="prod"}', {"digest": D_HAND}, 1)
    prometheus.wait_value("env:reconciler_drift:sum", {"env": "prod"}, 1)
    live = prometheus.query(substitute(overview["B"], dashboard))
    assert short(live, "live") == D_HAND[7:19] != short(desired, "desired")
    expected = {
        "ReconcilerProdDrift": {"app": "order-gateway", "env": "prod", "severity": "critical"},
        "ReconcilerPolicyInvalid": {"job": "reconciler", "severity": "critical"},
        "ReconcilerForgeRateLimitLow": {"job": "reconciler", "severity": "warning"},
        "ReconcilerForgeRateLimitExhausted": {"job": "reconciler", "severity": "critical"},
        "ReconcilerReconcileErrors": {"component": "apply", "severity": "warning"},
    }
    for alert, labels in expected.items():
        prometheus.wait(
            f"{alert} to go pending with {labels}", partial(prometheus.alerting, alert, labels)
        )
    assert prometheus.quiet("ReconcilerAbsent")

    # Cycle 3: prod runs what git pins again, the policy is fixed, payments is removed.
    daemon.cycle(story(D_OLD, policy_valid=True, budget=4700, payments=False))
    prometheus.wait_value("reconciler_drift", prod, 0)
    for alert in ("ReconcilerProdDrift", "ReconcilerPolicyInvalid", "ReconcilerForgeRateLimitLow"):
        prometheus.wait(f"{alert} to clear", partial(prometheus.quiet, alert))
    lag = substitute(overview["E"], dashboard)
    assert 'app=~".*"' in lag
    prometheus.wait(
        "payments to vanish from the overview",
        partial(prometheus.lacks, lag, {"app": "payments"}),
    )

    # The daemon goes away: nothing to scrape, "absent" goes pending.
    daemon.stop()
    prometheus.wait(
        "ReconcilerAbsent once the daemon is gone", partial(prometheus.alerting, "ReconcilerAbsent")
    )
