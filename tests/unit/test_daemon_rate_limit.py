"""The daemon loop after a cycle failed on a spent rate limit: it waits until the reset
(bounded), not its failure backoff; triggers wait too; stop() ends the wait.

Fake time as in test_daemon.py (daemonharness.py): the wall clock moves with the monotonic
one, so a cycle's RateLimited ``until`` is a time on the same fake day.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon import CycleStatus
from reconciler.daemon.waiter import MAX_RATE_LIMIT_WAIT, RATE_LIMIT_MARGIN
from reconciler.errors import RateLimited
from reconciler.metrics import Metrics
from tests.unit.daemonharness import T0, Scripted, Step, ok

MARGIN = RATE_LIMIT_MARGIN.total_seconds()


def limited(seconds: float) -> Step:
    """A cycle that fails on a limit spent for ``seconds`` more (by the wall clock)."""

    def step(loop: Scripted) -> CycleStatus:
        until = loop.wall() + timedelta(seconds=seconds)
        raise RateLimited(
            f"could not list the open pull requests: GitHub's rate limit is spent until {until}",
            until=until,
            service="GitHub",
        )

    return step


def test_a_spent_limit_is_waited_for_until_its_reset_not_the_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.daemon")

    loop = Scripted([limited(3000), ok]).run()

    assert loop.time.waits == [3000 + MARGIN]  # the backoff would have been 20 s
    assert loop.starts[1] - loop.starts[0] == 3000 + MARGIN
    assert [r.trigger for r in loop.records] == ["start", "rate limit reset"]
    assert loop.told == [T0 + timedelta(seconds=3000), None]
    said = [r for r in caplog.records if "rate limit is spent; waiting" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in said] == [
        (
            logging.WARNING,
            "GitHub's rate limit is spent; waiting until 2026-11-26T09:50:05Z (3005 s)",
        )
    ]


def test_the_wait_is_bounded() -> None:
    loop = Scripted([limited(5 * 3600), ok]).run()

    assert loop.time.waits == [MAX_RATE_LIMIT_WAIT.total_seconds() + MARGIN]


def test_a_reset_already_past_waits_only_the_margin() -> None:
    loop = Scripted([limited(-30), ok]).run()

    assert loop.time.waits == [MARGIN]


def test_triggers_during_the_wait_run_after_it_not_before() -> None:
    arrived: list[float] = []

    def webhook_once(loop: Scripted, _timeout: float) -> None:
        if not arrived:
            loop.time.now += 100
            arrived.append(loop.time.now)
            loop.daemon.trigger("webhook push")  # wakes the waiter: the loop waits again

    loop = Scripted([limited(600), ok], during_wait=webhook_once).run()

    assert loop.starts[1] - loop.starts[0] == 600 + MARGIN
    assert loop.time.waits == [600 + MARGIN - 100]  # after the trigger: the rest of the wait
    assert loop.records[1].trigger == "webhook push, rate limit reset"


def test_stop_ends_the_wait() -> None:
    def sigterm(loop: Scripted, _timeout: float) -> None:
        loop.time.now += 60
        loop.daemon.stop("SIGTERM")

    loop = Scripted([limited(3000), ok], during_wait=sigterm).run()

    assert len(loop.starts) == 1
    assert loop.told == [T0 + timedelta(seconds=3000), None]
    assert loop.daemon.status().healthy == (False, "stopped")


def test_other_failures_keep_the_backoff() -> None:
    def fails(_loop: Scripted) -> CycleStatus:
        raise RuntimeError("boom")

    loop = Scripted([fails, ok]).run()

    assert loop.time.waits == [20.0]
    assert loop.told == []


def test_the_metrics_show_the_wait_while_it_lasts() -> None:
    metrics = Metrics()
    seen: list[dict[str, float]] = []

    def scrape(_loop: Scripted, _timeout: float) -> None:
        seen.append(_series(metrics))

    Scripted(
        [limited(3000), ok], during_wait=scrape, on_rate_limit=metrics.forge_rate_limited
    ).run()
    after = _series(metrics)

    reset = (T0 + timedelta(seconds=3000)).timestamp()
    assert seen == [
        {
            "reconciler_forge_rate_limited": 1.0,
            "reconciler_forge_rate_limit_reset_timestamp_seconds": reset,
            "reconciler_forge_rate_limit_waits_total": 1.0,
        }
    ]
    assert after == {
        "reconciler_forge_rate_limited": 0.0,
        "reconciler_forge_rate_limit_waits_total": 1.0,
    }


def _series(metrics: Metrics) -> dict[str, float]:
    text = metrics.exposition().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("reconciler_forge_rate_limit")
        and not sample.name.endswith("_created")
    }
