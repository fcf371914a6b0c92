"""Webhook deliveries: signatures, the cycle each event triggers, replays (pure code)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import PolicyError
from reconciler.webhooks import (
    SeenDeliveries,
    WebhookConfig,
    decide,
    describe,
    load_secret,
    receive,
    verify,
)
from tests.servers.github_sim import webhooks

SECRET = b"hook secret 0f3c"
EXAMPLES = sorted(webhooks.EXAMPLES.glob("*.json"))


def _event(path: Path) -> str:
    return path.stem.partition(".")[0]


def _config(secret: bytes = SECRET, max_body_bytes: int = 1024 * 1024) -> WebhookConfig:
    return WebhookConfig(secret=secret, trigger=lambda reason: None, max_body_bytes=max_body_bytes)


# -- verify ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_verifies_with_its_secret_only(path: Path) -> None:
    body = path.read_bytes()
    header = webhooks.signature(SECRET, body)
    tampered = body.replace(b'"', b"'", 1)  # one byte changed

    assert verify(SECRET, body, header)
    assert not verify(b"another secret", body, header)
    assert not verify(SECRET, tampered, header)
    assert not verify(SECRET, body + b"\n", header)


def test_github_documented_test_vector_verifies() -> None:
    # From GitHub's "Validating webhook deliveries" documentation.
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    assert verify(b"It's a Secret to Everybody", b"Hello, World!", header)
    assert not verify(b"It's a Secret to Everybody", b"Hello, World?", header)


_BODY = b'{"zen": "Keep it logically awesome."}'
_GOOD = webhooks.signature(SECRET, _BODY)


@pytest.mark.parametrize(
    ("secret", "header", "valid"),
    [
        (SECRET, _GOOD, True),
        (SECRET, _GOOD.upper().replace("SHA256=", "sha256="), True),
        (SECRET, None, False),
        (SECRET, "", False),
        (SECRET, "sha256=", False),
        (SECRET, _GOOD.removeprefix("sha256="), False),
        (SECRET, _GOOD.replace("sha256=", "sha1="), False),
        (SECRET, "sha1=" + "0" * 40, False),
        (SECRET, _GOOD[:-1], False),
        (SECRET, _GOOD + "0", False),
        (SECRET, "sha256=" + "z" * 64, False),
        (SECRET, "sha256=" + "é" * 64, False),
        (SECRET, _GOOD[:-1] + ("0" if _GOOD[-1] != "0" else "1"), False),
        (b"", webhooks.signature(b"", _BODY), False),
    ],
    ids=[
        "good",
        "upper-case hex",
        "absent",
        "empty",
        "prefix only",
        "no prefix",
        "sha1 prefix",
        "sha1 form",
        "one digit short",
        "one digit long",
        "not hex",
        "not ascii",
        "last digit changed",
        "empty secret",
    ],
)
def test_verify_accepts_only_the_sha256_form(
    secret: bytes, header: str | None, valid: bool
) -> None:
    assert verify(secret, _BODY, header) is valid


# -- decide ----------------------------------------------------------------------------------


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
def test_each_example_triggers_a_cycle_with_a_short_reason(stem: str, reason: str) -> None:
    payload = json.loads((webhooks.EXAMPLES / f"{stem}.json").read_bytes())

    assert decide(stem.partition(".")[0], payload) == reason


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        ("ping", {"zen": "Design for failure.", "hook_id": 1}, None),
        ("issues", {"action": "opened", "issue": {"number": 3}}, None),
        ("release", {"action": "published"}, None),
        ("Push", {"ref": "refs/heads/main"}, None),
        ("push", {"ref": "refs/tags/v1.2.0"}, "webhook push refs/tags/v1.2.0"),
        ("push", {"ref": "refs/heads/promote/prod/gw"}, "webhook push promote/prod/gw"),
        ("push", {}, "webhook push"),
        ("push", {"ref": 7}, "webhook push"),
        ("push", {"ref": "refs/heads/a\nforged line"}, "webhook push a?forged line"),
        ("pull_request", {"action": "labeled"}, "webhook pull_request labeled"),
        (
            "pull_request",
            {"action": "edited", "pull_request": {"number": True}},
            "webhook pull_request edited",
        ),
        (
            "pull_request_review",
            {"action": "dismissed", "pull_request": {"number": 9}},
            "webhook pull_request_review dismissed #9",
        ),
        (
            "check_suite",
            {"action": "completed", "check_suite": {"head_branch": "promote/dev/api"}},
            "webhook check_suite completed promote/dev/api",
        ),
        (
            "status",
            {"sha": "a" * 40, "context": "e2e", "state": "failure"},
            "webhook status e2e failure aaaaaaaaaaaa",
        ),
        (
            "status",
            {"sha": 7, "context": "e2e\nforged", "state": None},
            "webhook status e2e?forged",
        ),
        (
            "check_suite",
            {"action": "completed", "check_suite": {"pull_requests": [{"number": "1"}]}},
            "webhook check_suite completed",
        ),
        (
            "check_suite",
            {
                "action": "completed",
                "check_suite": {"pull_requests": [{"number": n} for n in range(1, 6)]},
            },
            "webhook check_suite completed #1 #2 #3 ...",
        ),
        ("check_suite", {"check_suite": "not an object"}, "webhook check_suite"),
    ],
)
def test_decide_reads_only_event_action_ref_and_number(
    event: str, payload: dict[str, object], reason: str | None
) -> None:
    assert decide(event, payload) == reason


def test_reason_of_a_long_ref_is_bounded() -> None:
    reason = decide("push", {"ref": "refs/heads/" + "x" * 500})

    assert reason is not None
    assert len(reason) < 130


# -- de-duplication --------------------------------------------------------------------------


def test_a_delivery_is_new_once() -> None:
    seen = SeenDeliveries()

    assert [seen.first_time(d) for d in ("a", "b", "a", "b", "c")] == [
        True,
        True,
        False,
        False,
        True,
    ]


def test_the_least_recently_seen_delivery_is_forgotten_first() -> None:
    seen = SeenDeliveries(capacity=3)
    for delivery in ("a", "b", "c"):
        seen.first_time(delivery)

    assert not seen.first_time("a")  # seen again: now the most recent
    assert seen.first_time("d")  # evicts "b", the least recently seen
    assert len(seen) == 3
    assert not seen.first_time("a")
    assert seen.first_time("b")


def test_a_forgotten_delivery_is_new_again() -> None:
    seen = SeenDeliveries()
    seen.first_time("a")

    seen.forget("a")
    seen.forget("never seen")

    assert seen.first_time("a")


def test_concurrent_copies_of_a_delivery_are_new_exactly_once() -> None:
    seen = SeenDeliveries()
    start = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def deliver() -> None:
        start.wait()
        first = seen.first_time("same")
        with lock:
            results.append(first)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SeenDeliveries(capacity=0)


# -- receive ---------------------------------------------------------------------------------


def _headers(event: str | None, body: bytes, delivery: str | None = "d-1") -> dict[str, str | None]:
    headers: dict[str, str | None] = dict(webhooks.delivery(event or "", body, SECRET))
    headers["X-GitHub-Event"] = event
    headers["X-GitHub-Delivery"] = delivery
    return headers


PUSH = webhooks.example("push")


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        (_headers("push", PUSH), PUSH, 202, "webhook push master"),
        (_headers("ping", b'{"zen": "Speak like a human."}'), b'{"zen": "x"}', 401, None),
        (_headers("ping", b'{"zen": "x"}'), b'{"zen": "x"}', 200, None),
        (_headers("issues", b'{"action": "opened"}'), b'{"action": "opened"}', 200, None),
        ({**_headers("push", PUSH), "X-Hub-Signature-256": None}, PUSH, 401, None),
        (_headers("push", PUSH), PUSH.replace(b"master", b"main"), 401, None),
        (_headers(None, PUSH), PUSH, 400, None),
        (_headers("push", PUSH, delivery=None), PUSH, 400, None),
        (_headers("push", PUSH, delivery="  "), PUSH, 400, None),
        (_headers("push", PUSH, delivery="d" * 201), PUSH, 400, None),
        (_headers("push", b"payload=%7B%7D"), b"payload=%7B%7D", 400, None),
        (_headers("push", b"[1, 2]"), b"[1, 2]", 400, None),
        (_headers("push", b"\xff\xfe"), b"\xff\xfe", 400, None),
    ],
    ids=[
        "valid push",
        "signed another body",
        "ping",
        "unknown event",
        "no signature",
        "tampered body",
        "no event",
        "no delivery id",
        "blank delivery id",
        "huge delivery id",
        "form-encoded body",
        "JSON array",
        "not UTF-8",
    ],
)
def test_receive_answers_each_kind_of_delivery(
    headers: dict[str, str | None], body: bytes, status: int, reason: str | None
) -> None:
    answer = receive(_config(), SeenDeliveries(), headers, body)

    assert (answer.status, answer.reason) == (status, reason)
    assert answer.text


def test_a_replay_is_answered_without_a_cycle() -> None:
    seen = SeenDeliveries()
    headers = _headers("push", PUSH, delivery="d-7")

    first = receive(_config(), seen, headers, PUSH)
    replay = receive(_config(), seen, headers, PUSH)

    assert (first.status, first.reason) == (202, "webhook push master")
    assert (replay.status, replay.reason) == (200, None)
    assert "duplicate" in replay.text


@pytest.mark.parametrize(
    "rejected",
    [
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-GitHub-Event": None},
    ],
    ids=["bad signature", "no event"],
)
def test_a_rejected_delivery_does_not_use_up_its_id(rejected: dict[str, str | None]) -> None:
    seen = SeenDeliveries()
    headers = _headers("push", PUSH, delivery="d-8")

    first = receive(_config(), seen, {**headers, **rejected}, PUSH)
    genuine = receive(_config(), seen, headers, PUSH)

    assert first.status in (400, 401)
    assert (genuine.status, genuine.reason) == (202, "webhook push master")


def test_a_delivery_with_malformed_json_does_not_use_up_its_id() -> None:
    seen = SeenDeliveries()

    broken = receive(_config(), seen, _headers("push", b"{", delivery="d-9"), b"{")
    genuine = receive(_config(), seen, _headers("push", PUSH, delivery="d-9"), PUSH)

    assert (broken.status, genuine.status) == (400, 202)


def test_describe_shows_event_and_delivery_without_secrets() -> None:
    headers = _headers("push", PUSH, delivery="d-1\r\nforged")

    shown = describe(headers)

    assert shown == "push (d-1??forged)"
    assert describe({}) == "no event (no delivery id)"


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "secret"),
    [
        (b"s3cret\n", b"s3cret"),
        (b"  s3cret \r\n", b"s3cret"),
        (b"with inner space", b"with inner space"),
        (b"\xf0\x9f\x94\x91key", b"\xf0\x9f\x94\x91key"),
    ],
)
def test_load_secret_reads_the_file(tmp_path: Path, content: bytes, secret: bytes) -> None:
    path = tmp_path / "secret"
    path.write_bytes(content)

    assert load_secret(path) == secret


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b" \n\n"), "is empty"),
        (lambda p: None, "cannot read"),
        (lambda p: p.mkdir(), "cannot read"),
    ],
    ids=["empty", "whitespace", "missing", "a folder"],
)
def test_load_secret_explains_an_unusable_file(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "webhook-secret"
    make(path)

    with pytest.raises(PolicyError, match=message) as caught:
        load_secret(path)

    assert str(path) in str(caught.value)


def test_config_never_shows_its_secret() -> None:
    config = _config(secret=b"do-not-print-me")

    assert "do-not-print-me" not in repr(config)
    assert "do-not-print-me" not in str(config)


@pytest.mark.parametrize(
    ("secret", "limit", "message"),
    [(b"", 10, "secret is empty"), (SECRET, 0, "must be positive")],
)
def test_config_refuses_unusable_values(secret: bytes, limit: int, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _config(secret=secret, max_body_bytes=limit)
