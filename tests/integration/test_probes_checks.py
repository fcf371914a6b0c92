"""What makes a probe succeed: status, JSON fields, body pattern, against real responses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.gates.port import ProbeRequest
from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import HttpGate
from reconciler.policy.values import parse_json_expectations
from reconciler.probes import HttpProber, lookup, same_json
from tests.servers.endpoints import Endpoints, reply, serve

HEALTHY = {"status": "ok", "version": 3, "checks": [{"name": "db", "ok": True}], "ratio": 1.0}


@pytest.fixture(scope="module")
def server() -> Iterator[Endpoints]:
    with serve() as endpoints:
        endpoints.routes["/json"] = reply(200, json.dumps(HEALTHY).encode())
        endpoints.routes["/text"] = reply(200, b"OK: all good\nsecond line")
        endpoints.routes["/not-json"] = reply(200, b"<html>oops</html>")
        endpoints.routes["/down"] = reply(503, b"down")
        endpoints.routes["/created"] = reply(201, b"")
        endpoints.routes["/long"] = reply(200, json.dumps({"status": "x" * 100}).encode())
        yield endpoints


# (case, path, gate options, ok, detail)
CHECKS = [
    ("status matches", "/text", {}, True, "status 200"),
    ("status does not match", "/down", {}, False, "status 503, expected 200"),
    ("one of several statuses", "/created", {"expect_status": (200, 201)}, True, "status 201"),
    (
        "none of several statuses",
        "/down",
        {"expect_status": (200, 201)},
        False,
        "status 503, expected 200 or 201",
    ),
    ("an error status can be expected", "/down", {"expect_status": (503,)}, True, "status 503"),
    ("JSON field equal", "/json", {"expect_json": {"status": "ok"}}, True, "status 200"),
    (
        "JSON field differs",
        "/json",
        {"expect_json": {"status": "degraded"}},
        False,
        'status 200, but JSON field status is "ok", expected "degraded"',
    ),
    (
        "JSON nested tables are dotted paths",
        "/json",
        {"expect_json": {"checks": {"0": {"ok": True}}}},
        True,
        "status 200",
    ),
    (
        "JSON array index in a path",
        "/json",
        {"expect_json": {"checks.0.name": "db"}},
        True,
        "status 200",
    ),
    (
        "JSON field missing",
        "/json",
        {"expect_json": {"checks.1.name": "db"}},
        False,
        "status 200, but JSON field checks.1.name is missing",
    ),
    (
        "JSON number equals a whole float",
        "/json",
        {"expect_json": {"ratio": 1}},
        True,
        "status 200",
    ),
    (
        "JSON true is not 1",
        "/json",
        {"expect_json": {"checks.0.ok": 1}},
        False,
        "status 200, but JSON field checks.0.ok is true, expected 1",
    ),
    (
        "JSON string is not a number",
        "/json",
        {"expect_json": {"version": "3"}},
        False,
        'status 200, but JSON field version is 3, expected "3"',
    ),
    (
        "JSON on a body that is not JSON",
        "/not-json",
        {"expect_json": {"status": "ok"}},
        False,
        "status 200, but the body is not JSON",
    ),
    (
        "long values are shortened",
        "/long",
        {"expect_json": {"status": "ok"}},
        False,
        'status 200, but JSON field status is "' + "x" * 36 + '..., expected "ok"',
    ),
    ("body pattern found", "/text", {"expect_body": "^OK"}, True, "status 200"),
    (
        "body pattern searched, not anchored",
        "/text",
        {"expect_body": "all good"},
        True,
        "status 200",
    ),
    (
        "body pattern missing",
        "/text",
        {"expect_body": "^second"},
        False,
        "status 200, but the body does not match ^second",
    ),
    (
        "status checked before the body",
        "/down",
        {"expect_body": "down"},
        False,
        "status 503, expected 200",
    ),
]


@pytest.mark.parametrize(
    ("path", "options", "ok", "detail"), [pytest.param(*c[1:], id=c[0]) for c in CHECKS]
)
def test_check(
    server: Endpoints, path: str, options: dict[str, Any], ok: bool, detail: str
) -> None:
    if "expect_json" in options:
        options["expect_json"] = parse_json_expectations(options["expect_json"])
    gate = HttpGate(
        name="smoke", kind="http", url=server.url(path), timeout=timedelta(seconds=2), **options
    )
    prober = HttpProber(HttpClient(trust_env=False), clock=lambda: datetime.now(UTC))
    [sample] = prober.probe([ProbeRequest(gate, "api", "staging", None)])
    assert (sample.ok, sample.detail) == (ok, detail)


# (document, path, found, value)
LOOKUPS = [
    ({"a": {"b": 1}}, "a.b", True, 1),
    ({"a": [{"b": 2}]}, "a.0.b", True, 2),
    ({"a": [1]}, "a.1", False, None),
    ({"a": "text"}, "a.b", False, None),
    ({"a.b": 1}, "a.b", False, None),
    ([5], "0", True, 5),
]


@pytest.mark.parametrize(("document", "path", "found", "value"), LOOKUPS)
def test_lookup(document: Any, path: str, found: bool, value: Any) -> None:
    assert lookup(document, path) == (found, value)


# (value from JSON, wanted from TOML, equal)
EQUALITY = [
    (1, 1, True),
    (1.0, 1, True),
    (True, True, True),
    (True, 1, False),
    (0, False, False),
    ("1", 1, False),
    (None, "null", False),
    ([1, "a"], [1, "a"], True),
    ([1, True], [1, 1], False),
    ({"x": 1}, {"x": 1.0}, True),
    ({"x": 1}, {"x": 1, "y": 2}, False),
]


@pytest.mark.parametrize(("value", "wanted", "equal"), EQUALITY)
def test_same_json(value: Any, wanted: Any, equal: bool) -> None:
    assert same_json(value, wanted) is equal
