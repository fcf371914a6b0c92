"""Forwarding webhook deliveries between shards: the signed forward a peer accepts or
refuses, the peers ``--peers`` names, and what each peer's answer counts as."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import pytest

from reconciler.errors import PolicyError
from reconciler.forwarding import Forwarder, Result
from reconciler.httpclient.errors import HttpConnectionError, HttpError, HttpTimeout
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.shards import Shard, peer_urls
from reconciler.webhooks import (
    FORWARD_MAX_AGE_SECONDS,
    FORWARD_SIGNATURE,
    Forward,
    SeenDeliveries,
    WebhookConfig,
    forward_message,
    receive,
    receive_forward,
    sign_forward,
)
from tests.servers.github_sim import webhooks

SECRET = b"shared"
NOW = 1_800_000_000
CONFIG = WebhookConfig(secret=SECRET, trigger=lambda _reason: None)


def signed(**changes: object) -> tuple[bytes, dict[str, str | None]]:
    fields: dict[str, object] = {
        "delivery": "d-1",
        "event": "push",
        "reason": "webhook push main",
        "sender": "1/3",
        "sent_at": NOW,
    }
    body, headers = forward_message(SECRET, Forward(**fields | changes))  # type: ignore[arg-type]
    return body, dict(headers)


def resigned(payload: object) -> tuple[bytes, dict[str, str | None]]:
    """Any JSON body, signed as a forward: the checks after the signature."""
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", FORWARD_SIGNATURE: sign_forward(SECRET, body)}


def forged() -> tuple[bytes, dict[str, str | None]]:
    body, headers = signed()
    _, other = forward_message(b"guessed", Forward("d-1", "push", "r", "1/3", NOW))
    return body, headers | {FORWARD_SIGNATURE: other[FORWARD_SIGNATURE]}


def github_signed() -> tuple[bytes, dict[str, str | None]]:
    body, headers = signed()
    return body, headers | {FORWARD_SIGNATURE: webhooks.signature(SECRET, body)}


def tampered() -> tuple[bytes, dict[str, str | None]]:
    body, headers = signed()
    return body.replace(b"main", b"prod"), headers


def wrong_type() -> tuple[bytes, dict[str, str | None]]:
    body, headers = signed()
    return body, headers | {"Content-Type": "text/plain"}


FORWARDS = [
    ("fresh", signed(), 202, "webhook push main (forwarded from 1/3)"),
    (
        "clock a little ahead",
        signed(sent_at=NOW + 60),
        202,
        "webhook push main (forwarded from 1/3)",
    ),
    (
        "at the age bound",
        signed(sent_at=NOW - FORWARD_MAX_AGE_SECONDS),
        202,
        "webhook push main (forwarded from 1/3)",
    ),
    ("too old: a replay", signed(sent_at=NOW - FORWARD_MAX_AGE_SECONDS - 1), 403, None),
    ("far in the future", signed(sent_at=NOW + 3600), 403, None),
    ("no signature", (signed()[0], {"Content-Type": "application/json"}), 401, None),
    ("signed with another secret", forged(), 401, None),
    ("GitHub's signature of the body", github_signed(), 401, None),
    ("body changed after signing", tampered(), 401, None),
    ("not JSON content", wrong_type(), 415, None),
    (
        "a field missing",
        resigned({"delivery": "d-1", "event": "push", "reason": "r", "sender": "s"}),
        400,
        None,
    ),
    (
        "an extra field",
        resigned(
            {"delivery": "d", "event": "e", "reason": "r", "sender": "s", "sent_at": NOW, "x": 1}
        ),
        400,
        None,
    ),
    (
        "sent_at not a number",
        resigned({"delivery": "d", "event": "e", "reason": "r", "sender": "s", "sent_at": "now"}),
        400,
        None,
    ),
    (
        "sent_at a boolean",
        resigned({"delivery": "d", "event": "e", "reason": "r", "sender": "s", "sent_at": True}),
        400,
        None,
    ),
    (
        "empty delivery id",
        resigned({"delivery": "", "event": "e", "reason": "r", "sender": "s", "sent_at": NOW}),
        400,
        None,
    ),
    (
        "delivery id too long",
        resigned(
            {"delivery": "d" * 201, "event": "e", "reason": "r", "sender": "s", "sent_at": NOW}
        ),
        400,
        None,
    ),
    ("not an object", resigned(["d-1"]), 400, None),
]


@pytest.mark.parametrize(
    ("case", "message", "status", "reason"), FORWARDS, ids=[f[0] for f in FORWARDS]
)
def test_a_peer_checks_each_forward(
    case: str, message: tuple[bytes, dict[str, str | None]], status: int, reason: str | None
) -> None:
    body, headers = message
    answer, _ = receive_forward(CONFIG, SeenDeliveries(), headers, body, NOW)
    assert (answer.status, answer.reason) == (status, reason), answer.text


# (what arrives first, what arrives second): one delivery id, by either path, is one cycle.
ORDERS = [
    ("github", "github"),
    ("github", "forward"),
    ("forward", "github"),
    ("forward", "forward"),
]


@pytest.mark.parametrize(("first", "second"), ORDERS)
def test_one_delivery_id_triggers_once_whichever_way_it_comes(first: str, second: str) -> None:
    seen = SeenDeliveries()
    push = webhooks.example("push")

    def arrive(path: str) -> int:
        if path == "github":
            return receive(
                CONFIG, seen, webhooks.delivery("push", push, SECRET, "d-1"), push
            ).status
        body, headers = signed()
        return receive_forward(CONFIG, seen, headers, body, NOW)[0].status

    assert (arrive(first), arrive(second)) == (202, 200)


PEERS = [
    (
        "template, middle replica",
        "http://r-{index}.s:9464",
        Shard(1, 3),
        ("http://r-0.s:9464", "http://r-2.s:9464"),
    ),
    (
        "template, first replica",
        "http://r-{index}.s:9464/",
        Shard(0, 3),
        ("http://r-1.s:9464", "http://r-2.s:9464"),
    ),
    ("template, unsharded", "http://r-{index}.s:9464", Shard(0, 1), ()),
    ("explicit list", " http://a:1 , https://b ,", Shard(0, 3), ("http://a:1", "https://b")),
    ("repeats kept once", "http://a:1,http://a:1/", Shard(0, 2), ("http://a:1",)),
    ("empty", "", Shard(0, 3), ()),
]


@pytest.mark.parametrize(("case", "spec", "shard", "expected"), PEERS, ids=[p[0] for p in PEERS])
def test_peers_named_by_the_option(
    case: str, spec: str, shard: Shard, expected: tuple[str, ...]
) -> None:
    assert peer_urls(spec, shard) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "r-0.s:9464",
        "ftp://a",
        "http://a:1/webhook",
        "http://a:x",
        "http://{idx}:1",
        "http://u:p@a",
        "http://a?q",
    ],
)
def test_peers_that_are_not_base_urls_are_refused(spec: str) -> None:
    with pytest.raises(PolicyError, match="RECONCILER_PEERS"):
        peer_urls(spec, Shard(0, 3))


def response(status: int, body: bytes = b"") -> HttpResponse:
    return HttpResponse(status, "http://peer", timedelta(0), body=body)


class FakeClient:
    def __init__(self, answers: Sequence[HttpResponse | HttpError]) -> None:
        self.answers = list(answers)
        self.sent: list[HttpRequest] = []

    def send_all(
        self, requests: Sequence[HttpRequest], *, concurrency: int = 32
    ) -> list[HttpResponse | HttpError]:
        self.sent.extend(requests)
        return self.answers[: len(requests)]


ANSWERS: list[tuple[str, HttpResponse | HttpError, Result]] = [
    ("accepted", response(202), "ok"),
    ("already had it", response(200), "duplicate"),
    ("another secret", response(401, b"forward signature missing or wrong\n"), "refused"),
    ("clocks apart", response(403), "refused"),
    ("peer failed", response(500), "failed"),
    ("down", HttpConnectionError("connection refused", "http://peer"), "failed"),
    ("hanging", HttpTimeout("no answer within 5s", "http://peer"), "failed"),
]


@pytest.mark.parametrize(("case", "answer", "result"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_each_peers_answer_is_counted(
    case: str, answer: HttpResponse | HttpError, result: Result
) -> None:
    counted: list[tuple[str, str]] = []
    client = FakeClient([response(202), answer])
    forwarder = Forwarder(
        ["http://a:1", "http://b:2"],
        SECRET,
        "0/3",
        client=client,
        count=lambda peer, r: counted.append((peer, r)),
        clock=lambda: NOW,
    )
    results = forwarder.send("d-1", "push", "webhook push main")
    assert [r for _, r, _ in results] == ["ok", result]
    assert counted == [("a:1", "ok"), ("b:2", result)]
    # What each peer got is a forward it accepts, at its own path, no redirect followed.
    request = client.sent[1]
    assert (request.url, request.redirects) == ("http://b:2/webhook/forwarded", "none")
    assert request.body is not None
    answer_there, _ = receive_forward(
        CONFIG, SeenDeliveries(), dict(request.headers), request.body, NOW
    )
    assert answer_there.reason == "webhook push main (forwarded from 0/3)"


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    counted: list[tuple[str, str]] = []
    forwarder = Forwarder(
        ["http://a:1"],
        SECRET,
        "0/3",
        client=FakeClient([]),
        count=lambda peer, r: counted.append((peer, r)),
        capacity=1,
    )
    forwarder.submit("d-1", "push", "r")  # not started: it waits in the queue
    forwarder.submit("d-2", "push", "r")
    assert counted == [("a:1", "dropped")]
