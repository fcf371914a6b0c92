"""Every reconciler_* series (docs/operations.md), in one place; the only prometheus_client user.

Per-(app, env) state is published once per cycle as one frozen report and rendered from it
at scrape time, so a scrape never sees half a cycle and series of removed apps disappear.
Counters and the cycle histogram accumulate for the life of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from reconciler.reasons import BlockedCode

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, kw_only=True, slots=True)
class PairGauges:
    """What one (app, env) looks like after a cycle."""

    app: str
    env: str
    desired_digest: str | None = None
    live_digest: str | None = None
    drift: bool | None = None  # None: unknown (no live source)
    drift_seconds: float = 0.0
    lag_seconds: float = 0.0
    pending: bool = False
    gates: tuple[tuple[str, bool], ...] = ()
    blocked: tuple[BlockedCode, ...] = ()  # reconciler_blocked's reasons
    tag_drift: bool | None = None  # the env's registry tag points elsewhere than git pins


@dataclass(frozen=True)
class Gauges:
    """Everything the gauges show, replaced whole after each cycle."""

    envs: tuple[PairGauges, ...] = ()
    policy_valid: bool = True
    last_success: float | None = None  # unix time of the last cycle that completed
    forge_rate_limit_remaining: float | None = None


class Metrics:
    """The daemon's metrics registry."""

    def __init__(self, shard: tuple[int, int] = (0, 1)) -> None:
        """``shard``: this replica's (INDEX, COUNT) of ``--shard``, shown as reconciler_shards."""
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._report = Gauges()
        self._forge_budget: float | None = None
        self._limit_resets: float | None = None  # unix time, while the daemon waits for it
        self._cache_repairs: Callable[[], int] = lambda: 0
        self.promotions = Counter(
            "reconciler_promotions_total",
            "Promotions by target environment and result.",
            ["env", "result"],
            registry=self.registry,
        )
        self.rollbacks = Counter(
            "reconciler_rollbacks_total",
            "Rollback requests (`reconciler rollback`) the daemon merged, by app and environment.",
            ["app", "env"],
            registry=self.registry,
        )
        self.errors = Counter(
            "reconciler_reconcile_errors_total",
            "Errors while reconciling, by component.",
            ["component"],
            registry=self.registry,
        )
        self.forge_requests = Counter(
            "reconciler_forge_requests_total",
            "Requests to the forge API, by method and status.",
            ["method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Duration of one reconcile cycle.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.rate_limit_waits = Counter(
            "reconciler_forge_rate_limit_waits",
            "Times the daemon waited for the forge's spent rate limit to reset.",
            registry=self.registry,
        )
        self.webhook_forwards = Counter(
            "reconciler_webhook_forwards",
            "Webhook deliveries forwarded to a peer replica, by peer and result.",
            ["peer", "result"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "reconciler_notifications_total",
            "Notification delivery attempts, by sink, event and result (sent, error, timeout, "
            "rate-limited, rejected, no-secret, expired).",
            ["sink", "event", "result"],
            registry=self.registry,
        )
        self.shards = Gauge(
            "reconciler_shards",
            "How many shards the apps are split into; one series per replica, by its index.",
            ["index"],
            registry=self.registry,
        )
        self.shards.labels(index=str(shard[0])).set(shard[1])
        self.registry.register(_ReportCollector(self))

    def count_notification(self, sink: str, event: str, result: str) -> None:
        """One delivery attempt to ``sink`` of an ``event``, and how it ended."""
        self.notifications.labels(sink=sink, event=event, result=result).inc()

    def set_forge_budget(self, remaining: float) -> None:
        """The forge's remaining rate-limit budget, as its last answer said."""
        with self._lock:
            self._forge_budget = remaining

    def forge_rate_limited(self, until: datetime | None) -> None:
        """The daemon waits for the forge's rate limit, spent until ``until``; None: no more."""
        with self._lock:
            self._limit_resets = None if until is None else until.timestamp()
        if until is not None:
            self.rate_limit_waits.inc()

    @property
    def forge_limit_resets(self) -> float | None:
        """Unix time the forge's spent rate limit resets, while the daemon waits for it."""
        with self._lock:
            return self._limit_resets

    def count_cache_repairs(self, repairs: Callable[[], int]) -> None:
        """Serve ``repairs()`` as reconciler_cache_repairs_total: the git adapter counts its
        own repairs (``Pygit2ConfigRepo.cache_repairs``, from its first open), read here."""
        with self._lock:
            self._cache_repairs = repairs

    @property
    def cache_repairs(self) -> int:
        """Repairs of the config repo's clone in the cache folder, so far."""
        with self._lock:
            source = self._cache_repairs
        return source()

    def publish(self, report: Gauges) -> None:
        """Replace the per-cycle state shown by the gauges."""
        with self._lock:
            self._report = report

    @property
    def report(self) -> Gauges:
        """The state last published (with the forge budget last seen)."""
        with self._lock:
            if self._forge_budget is None or self._report.forge_rate_limit_remaining is not None:
                return self._report
            return replace(self._report, forge_rate_limit_remaining=self._forge_budget)

    def exposition(self) -> bytes:
        """The text exposition format served on /metrics."""
        return generate_latest(self.registry)


class _ReportCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        report = self._metrics.report
        pair = ["app", "env"]
        drift = GaugeMetricFamily("reconciler_drift", "1 when git and live differ.", labels=pair)
        drift_seconds = GaugeMetricFamily(
            "reconciler_drift_seconds", "How long git and live have differed.", labels=pair
        )
        lag = GaugeMetricFamily(
            "reconciler_promotion_lag_seconds",
            "How long the environment has pinned something other than its source.",
            labels=pair,
        )
        desired = GaugeMetricFamily(
            "reconciler_desired_image_info",
            "The digest the overlay pins.",
            labels=[*pair, "digest"],
        )
        live = GaugeMetricFamily(
            "reconciler_live_image_info", "The digest running.", labels=[*pair, "digest"]
        )
        gates = GaugeMetricFamily(
            "reconciler_gate_passing", "1 when the gate passes.", labels=[*pair, "gate"]
        )
        pending = GaugeMetricFamily(
            "reconciler_promotion_pending",
            "1 while a promotion into the environment is open or waiting.",
            labels=pair,
        )
        kinds = GaugeMetricFamily(
            "reconciler_drift_kind",
            "1 when git differs from what runs (kind=live) or from the environment's "
            "registry tag (kind=registry-tag).",
            labels=[*pair, "kind"],
        )
        blocked = GaugeMetricFamily(
            "reconciler_blocked",
            "1 for each reason a promotion is blocked.",
            labels=[*pair, "reason"],
        )
        for env in report.envs:
            key = [env.app, env.env]
            if env.drift is not None:
                drift.add_metric(key, 1.0 if env.drift else 0.0)
                drift_seconds.add_metric(key, env.drift_seconds)
                kinds.add_metric([*key, "live"], 1.0 if env.drift else 0.0)
            if env.tag_drift is not None:
                kinds.add_metric([*key, "registry-tag"], 1.0 if env.tag_drift else 0.0)
            lag.add_metric(key, env.lag_seconds)
            if env.desired_digest:
                desired.add_metric([*key, env.desired_digest], 1.0)
            if env.live_digest:
                live.add_metric([*key, env.live_digest], 1.0)
            for gate, passing in env.gates:
                gates.add_metric([*key, gate], 1.0 if passing else 0.0)
            pending.add_metric(key, 1.0 if env.pending else 0.0)
            for reason in env.blocked:
                blocked.add_metric([*key, reason], 1.0)
        yield from (drift, drift_seconds, kinds, lag, desired, live, gates, pending, blocked)
        yield GaugeMetricFamily(
            "reconciler_policy_valid",
            "1 when the policy on the base branch is valid.",
            value=1.0 if report.policy_valid else 0.0,
        )
        if report.last_success is not None:
            yield GaugeMetricFamily(
                "reconciler_last_reconcile_timestamp_seconds",
                "Unix time of the last completed cycle.",
                value=report.last_success,
            )
        yield CounterMetricFamily(
            "reconciler_cache_repairs",
            "Times the config repo's clone in the cache folder was found damaged and "
            "repaired (lock files a killed process left removed, or cloned again).",
            value=self._metrics.cache_repairs,
        )
        if report.forge_rate_limit_remaining is not None:
            yield GaugeMetricFamily(
                "reconciler_forge_rate_limit_remaining",
                "Requests left in the forge's rate-limit window.",
                value=report.forge_rate_limit_remaining,
            )
        resets = self._metrics.forge_limit_resets
        yield GaugeMetricFamily(
            "reconciler_forge_rate_limited",
            "1 while the daemon waits, sending nothing, for the forge's rate limit to reset.",
            value=0.0 if resets is None else 1.0,
        )
        if resets is not None:
            yield GaugeMetricFamily(
                "reconciler_forge_rate_limit_reset_timestamp_seconds",
                "Unix time the forge's spent rate limit resets (while the daemon waits).",
                value=resets,
            )
