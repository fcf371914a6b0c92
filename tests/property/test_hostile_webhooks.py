"""Promise 4 for the webhook endpoint: arbitrary deliveries, signed or not, get an answer
from the documented set, trigger a cycle only when signed and well-formed, and never stop
the real server from answering the next request."""

from __future__ import annotations

import contextlib
import http.client
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.metrics import Metrics
from reconciler.server import Status, StatusServer
from reconciler.webhooks import SeenDeliveries, WebhookConfig, receive
from tests import figures
from tests.servers.github_sim import webhooks

SECRET = b"fuzz secret"
ANSWERS = {200, 202, 400, 401, 411, 413, 415}
_events = st.sampled_from(["push", "pull_request", "check_suite", "ping", "issues", "", "\x00"])
_bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"{}", b"[]", b"null", b'{"ref": 1}', b'{"pull_request": []}']),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ).map(lambda value: repr(value).replace("'", '"').encode()),
    st.sampled_from(["push", "pull_request.opened", "check_suite.completed"]).map(
        lambda stem: (webhooks.EXAMPLES / f"{stem}.json").read_bytes()
    ),
)
_header_values = st.text(max_size=40) | st.none()


@settings(max_examples=figures.examples(1000), deadline=None)
@given(
    body=_bodies,
    event=_events,
    delivery=_header_values,
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "", "text/plain"]
    ),
    sign=st.booleans(),
    signature=_header_values,
)
def test_receive_answers_every_delivery(
    body: bytes,
    event: str,
    delivery: str | None,
    content_type: str,
    sign: bool,
    signature: str | None,
) -> None:
    triggered: list[str] = []
    config = WebhookConfig(secret=SECRET, trigger=triggered.append)
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": content_type,
        "X-Hub-Signature-256": webhooks.signature(SECRET, body) if sign else signature,
    }
    answer = figures.fuzz(
        "webhook endpoint", lambda: receive(config, SeenDeliveries(), headers, body), ()
    )
    assert answer is not None
    assert answer.status in ANSWERS
    assert (answer.reason is not None) == (answer.status == 202)
    if not sign:
        assert answer.status == 401


@pytest.fixture(scope="module")
def server() -> Iterator[StatusServer]:
    config = WebhookConfig(secret=SECRET, trigger=lambda reason: True, max_body_bytes=4096)
    status = Status((True, "ok"), (True, "ok"))
    running = StatusServer("127.0.0.1:0", Metrics(), lambda: status, webhook=config).start()
    yield running
    running.stop()


_names = st.sampled_from(
    ["Content-Type", "Transfer-Encoding", "X-GitHub-Event",
     "X-GitHub-Delivery", "X-Hub-Signature-256", "Expect", "Connection"]
)  # fmt: skip
_raw_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@settings(
    max_examples=figures.examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    headers=st.dictionaries(_names, _raw_values, max_size=6),
    body=_bodies,
    sign=st.booleans(),
    # A length longer than the body would only test the 30 s read timeout; these answer now.
    length=st.sampled_from(["exact", None, "99999999", "-1", "x", " 1", "0"]),
)
def test_the_real_server_survives_any_request(
    server: StatusServer, headers: dict[str, str], body: bytes, sign: bool, length: str | None
) -> None:
    if sign:
        headers["X-Hub-Signature-256"] = webhooks.signature(SECRET, body)
    if length is not None:
        headers["Content-Length"] = str(len(body)) if length == "exact" else length
    host, port = server.address.rsplit(":", 1)

    def exchange() -> int:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.putrequest("POST", "/webhook", skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            # Nothing more will come: a Content-Length larger than the body then meets the
            # end of the stream at once, as when a client leaves, rather than the server's
            # read timeout (waiting for announced bytes is what a server should do).
            assert connection.sock is not None
            with contextlib.suppress(OSError):  # the server may have answered and closed
                connection.sock.shutdown(socket.SHUT_WR)
            return connection.getresponse().status
        except (ConnectionError, http.client.HTTPException):
            return 0  # the server may close on a body it refused unread: not a crash
        finally:
            connection.close()

    status = figures.fuzz("webhook endpoint (real server)", exchange, ())
    assert status in ANSWERS | {0}
    # Whatever came before, the server still answers the next client.
    probe = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        probe.request("GET", "/healthz")
        assert probe.getresponse().status == 200
    finally:
        probe.close()
