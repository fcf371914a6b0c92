"""Promise 6: webhooks can't be abused. A real daemon behind a real StatusServer, with a
trigger limit of two cycles a minute, gets one request per row of a table of abuse; each
row says the status it must get and how many cycles it may start.

The daemon's clock is frozen, so its one-hour poll never comes and the minute of the
trigger limit never passes until the test moves it: every cycle counted was started by a
delivery, and "no cycle" is observed when the loop is idle again, not hoped for after a
sleep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from reconciler.daemon import CycleRun, CycleStatus, Daemon
from reconciler.metrics import Metrics
from reconciler.server import StatusServer
from reconciler.webhooks import WebhookConfig
from tests import figures
from tests.integration.test_webhook_server import Reply, _raw, _request
from tests.servers.github_sim import webhooks
from tests.unit.test_daemon_threads import SignallingWaiter

SECRET = b"abuse secret 41c9"
PUSH = webhooks.example("push")
LIMIT = 2
GENEROUS = 30.0  # seconds: reached only when the behaviour under test is broken
OK = CycleStatus(ok=True, policy_valid=True, summary="nothing to promote")


@dataclass
class World:
    daemon: Daemon
    server: StatusServer
    waiter: SignallingWaiter
    records: list[CycleRun]
    triggered: list[str]
    now: list[float]

    def settle(self) -> None:
        assert self.waiter.waiting.wait(GENEROUS)


@pytest.fixture
def world() -> Iterator[World]:
    now = [5000.0]
    records: list[CycleRun] = []
    triggered: list[str] = []
    waiter = SignallingWaiter()
    daemon = Daemon(
        lambda: OK,
        interval=timedelta(hours=1),
        waiter=waiter,
        on_cycle=records.append,
        trigger_limit=LIMIT,
        clock=lambda: now[0],
    )

    def trigger(reason: str) -> bool:
        triggered.append(reason)  # what reached the daemon, accepted or coalesced
        return daemon.trigger(reason)

    config = WebhookConfig(secret=SECRET, trigger=trigger, max_body_bytes=64 * 1024)
    server = StatusServer("127.0.0.1:0", Metrics(), daemon.status, webhook=config).start()
    thread = threading.Thread(target=daemon.run)
    thread.start()
    w = World(daemon, server, waiter, records, triggered, now)
    w.settle()  # the start-up cycle ran
    yield w
    daemon.stop()
    thread.join(GENEROUS)
    server.stop()
    waiter.close()  # injected: the daemon leaves it to its caller


def signed(event: str = "push", body: bytes = PUSH, **changes: str) -> dict[str, str]:
    headers = webhooks.delivery(event, body, SECRET)
    headers.update(changes)
    return headers


Send = Callable[[World], Reply]


def post(headers: dict[str, str], body: bytes = PUSH) -> Send:
    return lambda w: _request(w.server, "POST", body, headers)


BIG = b'{"pad": "' + b"x" * (64 * 1024) + b'"}'
REPLAYED = signed(delivery_id="replayed-delivery")

# (case, request, expected status, cycles it may start). Order matters: the replay row
# follows the first delivery of its id, and the limit rows follow two accepted pushes.
CASES: list[tuple[str, Send, int, int]] = [
    ("bad signature", post({**signed(), "X-Hub-Signature-256": "sha256=" + "0" * 64}), 401, 0),
    ("signature of another body", post(signed(body=b"{}")), 401, 0),
    (
        "missing signature",
        post({k: v for k, v in signed().items() if "Signature" not in k}),
        401,
        0,
    ),
    (
        "sha1 signature only",
        post(
            {
                **{k: v for k, v in signed().items() if "Signature" not in k},
                "X-Hub-Signature": "sha1=00",
            }
        ),
        401,
        0,
    ),
    ("oversized body (64 KiB + 11)", post(signed(body=BIG), BIG), 413, 0),
    (
        "no Content-Length (chunked)",
        lambda w: _raw(w.server, {**signed(), "Transfer-Encoding": "chunked"}, b"0\r\n\r\n"),
        411,
        0,
    ),
    (
        "form content type",
        post({**signed(), "Content-Type": "application/x-www-form-urlencoded"}),
        415,
        0,
    ),
    (
        "missing content type",
        post({k: v for k, v in signed().items() if k != "Content-Type"}),
        415,
        0,
    ),
    ("signed non-JSON body", post(signed(body=b"payload=%7B%7D"), b"payload=%7B%7D"), 400, 0),
    ("unknown event (issues)", post(signed("issues")), 200, 0),
    ("ping", post(signed("ping")), 200, 0),
    ("GET /webhook", lambda w: _request(w.server, "GET", None, signed()), 405, 0),
    ("first delivery", post(REPLAYED), 202, 1),
    ("replayed delivery", post(REPLAYED), 200, 0),
    ("second delivery", post(signed()), 202, 1),
    *[(f"delivery {n} beyond the limit", post(signed()), 202, 0) for n in range(3, 11)],
]


def test_abuse_is_rejected_and_starts_no_cycle_beyond_the_limit(world: World) -> None:
    rows = []
    for case, send, status, cycles in CASES:
        before = (len(world.records), len(world.triggered))
        world.waiter.waiting.clear()
        reply = send(world)
        if len(world.triggered) > before[1]:
            world.settle()  # the loop saw the trigger: it ran its cycle or deferred it
        started = len(world.records) - before[0]
        rows.append(f"webhook abuse: {case} -> {reply.status} -> cycles {started}")
        assert (case, reply.status, started) == (case, status, cycles), reply.text
    # The eight deliveries beyond the limit reached the daemon, coalesced, not lost: one
    # cycle takes them all once the minute has passed.
    world.waiter.waiting.clear()
    world.now[0] += 60
    world.waiter.notify()
    world.settle()
    assert len(world.records) == 1 + 2 + 1
    assert world.records[-1].trigger == "webhook push master"
    rows.append("webhook abuse: the minute passes -> one cycle for the 8 coalesced deliveries")
    for row in rows:
        figures.line(row)
