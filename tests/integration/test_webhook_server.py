"""POST /webhook on a real StatusServer: GitHub's example deliveries, signed, over HTTP."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from reconciler.daemon import CycleRun, CycleStatus, Daemon
from reconciler.metrics import Metrics
from reconciler.server import Status, StatusServer
from reconciler.webhooks import DEFAULT_MAX_BODY_BYTES, WebhookConfig
from tests.servers.github_sim import webhooks

SECRET = b"integration secret 7e1d"
PUSH = webhooks.example("push")
TIMEOUT = 10


@dataclass
class Triggers:
    """Records trigger() calls; fails the first ``failures`` of them."""

    failures: int = 0
    reasons: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, reason: str) -> None:
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("the daemon is gone")
            self.reasons.append(reason)


def _status() -> Status:
    return Status((True, "ok"), (True, "ok"))


@pytest.fixture(scope="module")
def recorder() -> Triggers:
    return Triggers()


@pytest.fixture
def triggers(recorder: Triggers) -> Triggers:
    """The servers' trigger, emptied: servers are shared by the module's tests (start-up
    and shut-down cost half a second each), and every delivery id is unique."""
    with recorder.lock:
        recorder.reasons.clear()
        recorder.failures = 0
    return recorder


def _serve(
    recorder: Triggers, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Iterator[StatusServer]:
    config = WebhookConfig(secret=SECRET, trigger=recorder, max_body_bytes=max_body_bytes)
    running = StatusServer("127.0.0.1:0", Metrics(), _status, webhook=config).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server(recorder: Triggers) -> Iterator[StatusServer]:
    yield from _serve(recorder)


@pytest.fixture(scope="module")
def tight(recorder: Triggers) -> Iterator[StatusServer]:
    """A server whose body limit is the size of the push example."""
    yield from _serve(recorder, max_body_bytes=len(PUSH))


@dataclass(frozen=True)
class Reply:
    status: int
    text: str
    headers: dict[str, str]


def _request(
    server: StatusServer, method: str, body: bytes | None, headers: dict[str, str]
) -> Reply:
    request = urllib.request.Request(
        f"http://{server.address}/webhook", data=body, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return Reply(response.status, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read().decode(), dict(error.headers))


def _post(server: StatusServer, event: str, body: bytes, **changes: str) -> Reply:
    headers = webhooks.delivery(event, body, SECRET)
    headers.update(changes)
    return _request(server, "POST", body, headers)


def _raw(
    server: StatusServer,
    headers: dict[str, str],
    body: bytes | None = None,
    *,
    hang_up: bool = False,
) -> Reply:
    """A POST whose headers are sent as given (no Content-Length added); ``hang_up`` then
    closes the client's sending side, as a client that stops mid-body does."""
    host, port = server.address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        connection.putrequest("POST", "/webhook", skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        if hang_up:
            connection.sock.shutdown(socket.SHUT_WR)
        response = connection.getresponse()
        return Reply(response.status, response.read().decode(), dict(response.headers))
    finally:
        connection.close()


# -- accepted deliveries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "reason"),
    [
        ("push", "webhook push master"),
        ("pull_request.opened", "webhook pull_request opened #2"),
        ("pull_request.synchronize", "webhook pull_request synchronize #2"),
        ("pull_request.closed", "webhook pull_request closed #2"),
        ("pull_request_review.submitted", "webhook pull_request_review submitted #2"),
        ("check_suite.completed", "webhook check_suite completed #2"),
        ("status", "webhook status default success 6113728f27ae"),
    ],
)
def test_a_signed_example_triggers_one_cycle(
    server: StatusServer, triggers: Triggers, stem: str, reason: str
) -> None:
    body = (webhooks.EXAMPLES / f"{stem}.json").read_bytes()

    reply = _post(server, stem.partition(".")[0], body)

    assert reply.status == 202
    assert triggers.reasons == [reason]


def test_a_replay_triggers_no_second_cycle(server: StatusServer, triggers: Triggers) -> None:
    first = _post(server, "push", PUSH, **{"X-GitHub-Delivery": "72d3162e-cc78-11e3"})
    replay = _post(server, "push", PUSH, **{"X-GitHub-Delivery": "72d3162e-cc78-11e3"})
    another = _post(server, "push", PUSH, **{"X-GitHub-Delivery": "8a1c2f30-cc78-11e3"})

    assert (first.status, replay.status, another.status) == (202, 200, 202)
    assert "duplicate" in replay.text
    assert triggers.reasons == ["webhook push master", "webhook push master"]


def test_concurrent_copies_of_a_delivery_trigger_once(
    server: StatusServer, triggers: Triggers
) -> None:
    start = threading.Barrier(6)
    statuses: list[int] = []
    lock = threading.Lock()

    def deliver() -> None:
        start.wait()
        reply = _post(server, "push", PUSH, **{"X-GitHub-Delivery": "same-delivery"})
        with lock:
            statuses.append(reply.status)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 5 + [202]
    assert triggers.reasons == ["webhook push master"]


def test_a_delivery_whose_trigger_failed_is_taken_on_redelivery(
    server: StatusServer, triggers: Triggers
) -> None:
    triggers.failures = 1

    failed = _post(server, "push", PUSH, **{"X-GitHub-Delivery": "d-redeliver"})
    redelivered = _post(server, "push", PUSH, **{"X-GitHub-Delivery": "d-redeliver"})

    assert (failed.status, redelivered.status) == (500, 202)
    assert triggers.reasons == ["webhook push master"]


def test_a_webhook_runs_a_cycle_of_a_real_daemon() -> None:
    records: list[CycleRun] = []
    cycled = threading.Condition()

    def on_cycle(record: CycleRun) -> None:
        with cycled:
            records.append(record)
            cycled.notify_all()

    daemon = Daemon(
        lambda: CycleStatus(ok=True, policy_valid=True, summary="nothing to do"),
        interval=timedelta(hours=1),
        jitter=0.0,
        on_cycle=on_cycle,
    )
    config = WebhookConfig(secret=SECRET, trigger=daemon.trigger)
    server = StatusServer("127.0.0.1:0", Metrics(), daemon.status, webhook=config).start()
    loop = threading.Thread(target=daemon.run)
    loop.start()
    try:
        with cycled:
            assert cycled.wait_for(lambda: len(records) >= 1, timeout=TIMEOUT)
        reply = _post(server, "pull_request", webhooks.example("pull_request", "synchronize"))
        with cycled:
            assert cycled.wait_for(lambda: len(records) >= 2, timeout=TIMEOUT)
    finally:
        daemon.stop()
        loop.join(timeout=TIMEOUT)
        server.stop()

    assert reply.status == 202
    assert [r.trigger for r in records] == ["start", "webhook pull_request synchronize #2"]


# -- refused deliveries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"X-Hub-Signature-256": webhooks.signature(b"wrong secret", PUSH)},
        {"X-Hub-Signature-256": webhooks.signature(SECRET, PUSH + b" ")},
        {"X-Hub-Signature-256": "sha1=" + "0" * 40},
        {"X-Hub-Signature-256": ""},
    ],
    ids=["wrong secret", "other body", "sha1", "empty"],
)
def test_a_bad_signature_is_refused(
    server: StatusServer, triggers: Triggers, changes: dict[str, str]
) -> None:
    reply = _post(server, "push", PUSH, **changes)

    assert reply.status == 401
    assert triggers.reasons == []


def test_a_missing_signature_is_refused(server: StatusServer, triggers: Triggers) -> None:
    headers = webhooks.delivery("push", PUSH, SECRET)
    del headers["X-Hub-Signature-256"]

    reply = _request(server, "POST", PUSH, headers)

    assert reply.status == 401
    assert triggers.reasons == []


def test_an_oversized_body_is_refused_without_being_read(
    tight: StatusServer, triggers: Triggers
) -> None:
    headers = webhooks.delivery("push", PUSH + b" ", SECRET)
    headers["Content-Length"] = str(len(PUSH) + 1)

    # The body is never sent: an answer proves the server did not wait to read it.
    reply = _raw(tight, headers)

    assert reply.status == 413
    assert reply.headers.get("Connection") == "close"
    assert triggers.reasons == []


def test_a_body_at_the_limit_is_accepted(tight: StatusServer, triggers: Triggers) -> None:
    reply = _post(tight, "push", PUSH)

    assert reply.status == 202
    assert triggers.reasons == ["webhook push master"]


@pytest.mark.parametrize(
    ("extra", "body", "status"),
    [
        ({}, None, 411),
        ({"Transfer-Encoding": "chunked"}, b"5\r\nhello\r\n0\r\n\r\n", 411),
        ({"Content-Length": "-1"}, None, 400),
        ({"Content-Length": "12x"}, None, 400),
    ],
    ids=["no length", "chunked", "negative length", "bad length"],
)
def test_a_body_without_a_trustworthy_length_is_refused(
    server: StatusServer,
    triggers: Triggers,
    extra: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    headers = {**webhooks.delivery("push", PUSH, SECRET), **extra}

    reply = _raw(server, headers, body)

    assert reply.status == status
    assert triggers.reasons == []


@pytest.mark.parametrize(
    ("event", "body", "changes", "status"),
    [
        ("push", b"payload=%7B%7D", {}, 400),
        ("push", b"{", {}, 400),
        ("push", PUSH, {"X-GitHub-Event": ""}, 400),
        ("push", PUSH, {"X-GitHub-Delivery": ""}, 400),
    ],
    ids=["form-encoded", "truncated JSON", "no event", "no delivery id"],
)
def test_a_malformed_signed_delivery_is_refused(
    server: StatusServer,
    triggers: Triggers,
    event: str,
    body: bytes,
    changes: dict[str, str],
    status: int,
) -> None:
    reply = _post(server, event, body, **changes)

    assert reply.status == status
    assert triggers.reasons == []


def test_a_body_cut_short_is_refused(server: StatusServer, triggers: Triggers) -> None:
    headers = {**webhooks.delivery("push", PUSH, SECRET), "Content-Length": str(len(PUSH))}

    reply = _raw(server, headers, PUSH[:100], hang_up=True)

    assert reply.status == 400
    assert triggers.reasons == []


# -- answered, no cycle ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "body"),
    [
        ("ping", b'{"zen": "Approachable is better than simple.", "hook_id": 109948940}'),
        ("issues", b'{"action": "opened", "issue": {"number": 1}}'),
        ("workflow_run", b'{"action": "completed"}'),
    ],
)
def test_other_events_are_answered_without_a_cycle(
    server: StatusServer, triggers: Triggers, event: str, body: bytes
) -> None:
    reply = _post(server, event, body)

    assert reply.status == 200
    assert triggers.reasons == []


def test_get_on_the_webhook_is_not_allowed(server: StatusServer) -> None:
    reply = _request(server, "GET", None, {})

    assert reply.status == 405
    assert reply.headers.get("Allow") == "POST"


def test_probes_and_metrics_still_answer_beside_the_webhook(server: StatusServer) -> None:
    for path in ("/metrics", "/healthz", "/readyz"):
        with urllib.request.urlopen(f"http://{server.address}{path}", timeout=TIMEOUT) as r:
            assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            urllib.request.Request(f"http://{server.address}/metrics", data=b"", method="POST"),
            timeout=TIMEOUT,
        )
    with caught.value as refused:  # the error holds the response, and its socket, open
        assert refused.code == 405


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_without_a_secret_there_is_no_webhook(method: str) -> None:
    server = StatusServer("127.0.0.1:0", Metrics(), _status).start()
    try:
        body = PUSH if method == "POST" else None
        headers = webhooks.delivery("push", PUSH, SECRET) if body else {}
        reply = _request(server, method, body, headers)
    finally:
        server.stop()

    assert reply.status == 404


# -- what the log shows ----------------------------------------------------------------------


def test_the_log_names_deliveries_but_never_the_secret_or_signature(
    server: StatusServer, caplog: pytest.LogCaptureFixture
) -> None:
    signature = webhooks.signature(SECRET, PUSH)
    caplog.set_level(logging.DEBUG, logger="reconciler")

    _post(server, "push", PUSH, **{"X-GitHub-Delivery": "d-log"})
    _post(server, "push", PUSH, **{"X-GitHub-Delivery": "d-log"})
    _post(server, "push", PUSH, **{"X-Hub-Signature-256": signature[:-1] + "0"})
    _raw(server, {**webhooks.delivery("push", PUSH, SECRET), "Content-Length": "9999999"})

    shown = [
        record.getMessage() + json.dumps(vars(record), default=str) for record in caplog.records
    ]
    assert any("push (d-log): cycle triggered (webhook push master)" in s for s in shown)
    assert [r.levelname for r in caplog.records] == ["INFO", "INFO", "WARNING", "WARNING"]
    for text in shown:
        assert SECRET.decode() not in text
        assert signature.removeprefix("sha256=")[:16] not in text
        assert "Hello-World" not in text  # payload contents stay out
