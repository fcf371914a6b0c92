"""HTTP probes against real endpoints on 127.0.0.1: fan-out, hangs, huge bodies, redirects,
secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.gates import Sample
from reconciler.gates.port import ProbeRequest
from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import HttpGate
from reconciler.probes import HttpProber
from tests.ports import free_port
from tests.servers.endpoints import (
    Endpoints,
    hang,
    huge,
    redirect,
    reply,
    reply_json,
    serve,
    trickle,
)

DIGEST = "sha256:" + "b" * 64
ROUND = datetime(2026, 5, 10, 10, 0, tzinfo=UTC)
SECRET = "s3cr3t-token-value"


@pytest.fixture
def server() -> Iterator[Endpoints]:
    with serve() as endpoints:
        yield endpoints


@pytest.fixture
def other_server() -> Iterator[Endpoints]:
    with serve() as endpoints:
        yield endpoints


def gate(url: str, **options: Any) -> HttpGate:
    options.setdefault("timeout", timedelta(seconds=1))
    return HttpGate(name="staging-health", kind="http", url=url, **options)


def prober(concurrency: int = 32, environ: dict[str, str] | None = None) -> HttpProber:
    return HttpProber(
        HttpClient(trust_env=False),
        concurrency=concurrency,
        clock=lambda: ROUND,
        environ=environ or {},
    )


def probe_one(g: HttpGate, environ: dict[str, str] | None = None, app: str = "api") -> Sample:
    [sample] = prober(environ=environ).probe([ProbeRequest(g, app, "staging", DIGEST)])
    return sample


def test_a_sample_records_the_request_and_the_binding(server: Endpoints) -> None:
    server.routes["/order-gateway/staging/healthz"] = reply(200, b"ok")
    g = gate(server.url("/{app}/{env}/healthz"))
    [sample] = prober().probe([ProbeRequest(g, "order-gateway", "staging", DIGEST)])
    assert sample == Sample(
        gate="staging-health",
        app="order-gateway",
        env="staging",
        taken_at=ROUND,
        ok=True,
        detail="status 200",
        live_digest=DIGEST,
        status=200,
    )
    assert server.paths() == ["/order-gateway/staging/healthz"]


def test_one_hanging_endpoint_does_not_hold_up_the_others(server: Endpoints) -> None:
    apps = [f"app-{n:02d}" for n in range(20)]
    hanging = apps[0]  # first in line, so a serial client would reach the others only after it
    for app in apps[1:]:
        server.routes[f"/{app}/healthz"] = reply(200, b"ok")
    server.routes[f"/{hanging}/healthz"] = hang(watch=len(apps) - 1)
    g = gate(server.url("/{app}/healthz"), timeout=timedelta(seconds=1))

    samples = prober(concurrency=4).probe([ProbeRequest(g, app, "staging", DIGEST) for app in apps])

    assert [s.app for s in samples] == apps
    assert all(s.ok and s.detail == "status 200" for s in samples[1:])
    assert not samples[0].ok
    assert samples[0].detail == (
        f"no complete response from {server.url('/app-00/healthz')} within 1s"
    )
    # The other 19 were all served while the hanging request's client still waited for it.
    assert server.notes["client_waiting"] is True
    assert not server.released.is_set()  # the round ended without the hang being released


def test_a_trickling_body_is_cut_off_at_the_timeout(server: Endpoints) -> None:
    server.routes["/healthz"] = trickle()
    sample = probe_one(gate(server.url("/healthz"), timeout=timedelta(milliseconds=300)))
    assert not sample.ok
    assert sample.detail == f"no complete response from {server.url('/healthz')} within 0.3s"


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "streamed"])
def test_a_10_mb_body_fails_at_the_cap(server: Endpoints, declare_length: bool) -> None:
    server.routes["/healthz"] = huge(10 * 1024 * 1024, declare_length)
    sample = probe_one(gate(server.url("/healthz")))
    assert not sample.ok
    assert sample.detail == f"the body from {server.url('/healthz')} is over 1048576 bytes"


@pytest.mark.parametrize(
    ("size", "ok"), [(1000, True), (1001, False)], ids=["at the cap", "one byte over"]
)
@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "streamed"])
def test_the_body_cap_is_exact(
    server: Endpoints, size: int, ok: bool, declare_length: bool
) -> None:
    server.routes["/healthz"] = huge(size, declare_length)
    assert probe_one(gate(server.url("/healthz"), max_body_bytes=1000)).ok is ok


def test_a_redirect_to_another_host_is_refused_by_default(
    server: Endpoints, other_server: Endpoints
) -> None:
    other_server.routes["/healthz"] = reply(200, b"ok")
    server.routes["/healthz"] = redirect(other_server.url("/healthz"))
    sample = probe_one(gate(server.url("/healthz")))
    assert not sample.ok
    assert sample.detail == (
        f"{server.url('/healthz')} redirected to another host "
        f"({other_server.url('/healthz')}), not followed"
    )
    assert other_server.paths() == []


def test_a_redirect_on_the_same_host_is_followed_with_its_headers(server: Endpoints) -> None:
    server.routes["/healthz"] = redirect("/v2/healthz?x=1", 301)
    server.routes["/v2/healthz"] = reply(200, b"ok")
    g = gate(server.url("/healthz"), headers_from_env={"Authorization": "TOKEN"})
    assert probe_one(g, {"TOKEN": SECRET}).ok
    assert [r.headers.get("Authorization") for r in server.received] == [SECRET, SECRET]


def test_any_redirect_policy_follows_but_keeps_secrets_home(
    server: Endpoints, other_server: Endpoints
) -> None:
    other_server.routes["/healthz"] = reply(200, b"ok")
    server.routes["/healthz"] = redirect(other_server.url("/healthz"))
    g = gate(
        server.url("/healthz"),
        follow_redirects="any",
        headers={"Accept": "application/json"},
        headers_from_env={"Authorization": "TOKEN"},
    )
    assert probe_one(g, {"TOKEN": SECRET}).ok
    [seen] = other_server.received
    assert seen.headers.get("Accept") == "application/json"
    assert "Authorization" not in seen.headers


def test_no_redirect_policy_judges_the_redirect_itself(server: Endpoints) -> None:
    server.routes["/healthz"] = redirect("/elsewhere")
    sample = probe_one(gate(server.url("/healthz"), follow_redirects="none"))
    assert (sample.ok, sample.status, sample.detail) == (False, 302, "status 302, expected 200")
    assert server.paths() == ["/healthz"]


def test_connection_refused() -> None:
    port = free_port()
    sample = probe_one(gate(f"http://127.0.0.1:{port}/healthz"))
    assert not sample.ok
    assert sample.detail == f"cannot connect to 127.0.0.1:{port}: connection refused"


def test_secret_headers_reach_the_server_and_nothing_else(
    server: Endpoints, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.routes["/healthz"] = reply(500, b"down")
    token_file = tmp_path / "probe-token"
    token_file.write_text(f"Bearer {SECRET}-file\n")  # mounted secrets often end in a newline
    g = gate(
        server.url("/healthz"),
        headers_from_env={"X-Api-Key": "PROBE_KEY"},
        headers_from_file={"Authorization": str(token_file)},
    )
    caplog.set_level(logging.DEBUG)
    sample = probe_one(g, {"PROBE_KEY": SECRET})
    [seen] = server.received
    assert seen.headers["X-Api-Key"] == SECRET
    assert seen.headers["Authorization"] == f"Bearer {SECRET}-file"
    assert not sample.ok
    assert SECRET not in repr(sample)
    assert SECRET not in caplog.text


def test_a_rotated_secret_file_is_read_again_next_round(server: Endpoints, tmp_path: Path) -> None:
    server.routes["/healthz"] = reply(200)
    token_file = tmp_path / "token"
    g = gate(server.url("/healthz"), headers_from_file={"Authorization": str(token_file)})
    token_file.write_text("first")
    probe_one(g)
    token_file.write_text("second")
    probe_one(g)
    assert [r.headers["Authorization"] for r in server.received] == ["first", "second"]


# (case, gate options, environ, file content or None, detail)
UNSENDABLE = [
    (
        "missing env var",
        {"headers_from_env": {"Authorization": "NOPE"}},
        {},
        None,
        "environment variable NOPE (for header Authorization) is not set",
    ),
    (
        "empty env var",
        {"headers_from_env": {"Authorization": "EMPTY"}},
        {"EMPTY": ""},
        None,
        "environment variable EMPTY (for header Authorization) is not set",
    ),
    (
        "missing file",
        {"headers_from_file": {"Authorization": "{missing}"}},
        {},
        None,
        "cannot read {missing} (for header Authorization): no such file or directory",
    ),
    (
        "empty file",
        {"headers_from_file": {"Authorization": "{file}"}},
        {},
        "\n",
        "{file} (for header Authorization) is empty",
    ),
    (
        "a line break inside the secret",
        {"headers_from_env": {"Authorization": "T"}},
        {"T": f"{SECRET}\r\nX-Evil: 1"},
        None,
        "the value of header Authorization is not one line of plain ASCII text (check the "
        "secret it is read from, e.g. a trailing newline)",
    ),
]


@pytest.mark.parametrize(
    ("options", "environ", "content", "detail"),
    [pytest.param(*c[1:], id=c[0]) for c in UNSENDABLE],
)
def test_a_probe_that_cannot_be_sent_fails_without_leaking(
    server: Endpoints,
    tmp_path: Path,
    options: dict[str, dict[str, str]],
    environ: dict[str, str],
    content: str | None,
    detail: str,
) -> None:
    server.routes["/healthz"] = reply(200)
    paths = {"missing": str(tmp_path / "missing"), "file": str(tmp_path / "token")}
    if content is not None:
        Path(paths["file"]).write_text(content)
    options = {k: {h: v.format(**paths) for h, v in m.items()} for k, m in options.items()}
    sample = probe_one(gate(server.url("/healthz"), **options), environ)
    assert not sample.ok
    assert sample.detail == detail.format(**paths)
    assert SECRET not in repr(sample)
    assert server.received == []


def test_methods(server: Endpoints) -> None:
    server.routes["/healthz"] = reply(204)
    for method in ("GET", "HEAD", "POST"):
        assert probe_one(gate(server.url("/healthz"), method=method, expect_status=(204,))).ok
    assert [r.method for r in server.received] == ["GET", "HEAD", "POST"]


def test_json_body_over_real_http(server: Endpoints) -> None:
    server.routes["/smoke"] = reply_json({"status": "ok", "checks": {"db": {"ok": True}}})
    g = gate(server.url("/smoke"), expect_json={"status": "ok", "checks.db.ok": True})
    assert probe_one(g).ok
