"""One sink's sender against real receivers on loopback: an answer, a 500, a hang past the
timeout, a 429 with Retry-After, a 404; each attempt counted, bounded, and the sink's URL
(a credential) in no log line and no metric."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from reconciler.clock import utc_now
from reconciler.httpclient.client import HttpClient
from reconciler.logs import configure_logging
from reconciler.notify.delivery import Outgoing, Retry, SinkSender
from reconciler.notify.outbox import Result
from reconciler.policy.notify import SecretRef, SlackSink
from tests.servers.endpoints import Endpoints, hang, reply, serve
from tests.servers.receivers import BUSY, busy_once

TOKEN = "T000-B000-XXXXsecretXXXX"  # what a Slack webhook URL's path holds
RETRY = Retry(attempts=3, backoff=(0.01,), retry_after_max=1.0)


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    with serve() as running:
        running.routes.update(
            {
                f"/ok/{TOKEN}": reply(200, b"ok"),
                f"/fail/{TOKEN}": reply(500, b"down"),
                f"/hang/{TOKEN}": hang(),
                f"/gone/{TOKEN}": reply(404, b"no such hook"),
                BUSY: busy_once(),
            }
        )
        yield running


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient() as http:
        yield http


def deliver(
    client: HttpClient,
    url: str,
    environ: dict[str, str] | None = None,
    lease_until: datetime | None = None,
) -> tuple[Result, list[tuple[str, str, str]]]:
    """Send one message to ``url`` (read from $HOOK) and wait for its result."""
    sink = SlackSink(
        name="ops", kind="slack", url_from=SecretRef("env", "HOOK"), timeout=timedelta(seconds=0.3)
    )
    counted: list[tuple[str, str, str]] = []
    results: list[Result] = []
    finished = threading.Event()

    def done(_sink: str, _id: str, result: Result) -> None:
        results.append(result)
        finished.set()

    sender = SinkSender(
        sink,
        client,
        count=lambda *labels: counted.append(labels),
        done=done,
        retry=RETRY,
        stop=threading.Event(),
        environ={"HOOK": url} if environ is None else environ,
    )
    body = b'{"id": "merged:shop:prod:sha256:1"}'
    sender.put(Outgoing("merged:shop:prod:sha256:1", "merged", body, {}, None, lease_until))
    assert finished.wait(30), "no result"
    sender.stop.set()
    sender.join(10)
    return results[0], counted


def test_an_answer_is_sent_once(client: HttpClient, endpoints: Endpoints) -> None:
    result, counted = deliver(client, endpoints.url(f"/ok/{TOKEN}"))
    assert (result, counted) == ("sent", [("ops", "merged", "sent")])


def test_a_failing_receiver_is_tried_the_bounded_number_of_times(
    client: HttpClient, endpoints: Endpoints
) -> None:
    result, counted = deliver(client, endpoints.url(f"/fail/{TOKEN}"))
    assert result == "failed"
    assert counted == [("ops", "merged", "error")] * RETRY.attempts
    assert endpoints.paths().count(f"/fail/{TOKEN}") == RETRY.attempts


def test_a_hanging_receiver_times_out_each_attempt(
    client: HttpClient, endpoints: Endpoints
) -> None:
    result, counted = deliver(client, endpoints.url(f"/hang/{TOKEN}"))
    assert result == "failed"
    assert counted == [("ops", "merged", "timeout")] * RETRY.attempts


def test_a_429_is_waited_out_then_sent(client: HttpClient, endpoints: Endpoints) -> None:
    result, counted = deliver(client, endpoints.url(BUSY))
    assert result == "sent"
    assert counted == [("ops", "merged", "rate-limited"), ("ops", "merged", "sent")]


def test_another_4xx_is_not_retried(client: HttpClient, endpoints: Endpoints) -> None:
    result, counted = deliver(client, endpoints.url(f"/gone/{TOKEN}"))
    assert (result, counted) == ("rejected", [("ops", "merged", "rejected")])
    assert endpoints.paths().count(f"/gone/{TOKEN}") == 1


def test_an_unset_url_is_counted_and_named_by_its_variable_only(
    client: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        result, counted = deliver(client, "", environ={})
    assert (result, counted) == ("failed", [("ops", "merged", "no-secret")])
    assert "env:HOOK is empty or unset" in caplog.text


@pytest.mark.parametrize("path", [f"/fail/{TOKEN}", f"/hang/{TOKEN}", f"/gone/{TOKEN}"])
def test_the_url_is_in_no_log_line_and_no_metric_label(
    client: HttpClient, endpoints: Endpoints, path: str
) -> None:
    # The daemon's own log output, as `reconciler run` configures it (libraries' records,
    # httpx's request lines among them, are withheld there by reconciler.logs).
    out = io.StringIO()
    handler = configure_logging("json", "DEBUG", stream=out)
    try:
        _, counted = deliver(client, endpoints.url(path))
    finally:
        logging.getLogger().removeHandler(handler)
    assert "notify ops" in out.getvalue(), "the failures were logged"
    assert TOKEN not in out.getvalue()
    assert all(TOKEN not in label for labels in counted for label in labels)


def test_a_claim_that_ran_out_is_not_sent(client: HttpClient, endpoints: Endpoints) -> None:
    # Another replica may have taken it over: sending now could tell the event twice.
    ran_out = utc_now() + timedelta(milliseconds=100)  # sooner than one attempt's timeout
    result, counted = deliver(client, endpoints.url(f"/ok/{TOKEN}"), lease_until=ran_out)
    assert (result, counted) == ("failed", [("ops", "merged", "expired")])
    assert f"/ok/{TOKEN}" not in endpoints.paths()
