"""The HTTP client adapter under the probes (and later registries), on loopback servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from reconciler import __version__
from reconciler.errors import PermanentError, TransientError
from reconciler.httpclient.addresses import safe_url, same_host
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import (
    BodyTooLarge,
    HttpConnectionError,
    HttpTimeout,
    InvalidRequest,
    RedirectRefused,
)
from reconciler.httpclient.messages import HttpRequest, HttpResponse, RedirectPolicy
from tests.ports import free_port
from tests.servers.endpoints import Endpoints, hang, huge, redirect, reply, serve

SECRET = "s3cr3t-token-value"
SHORT = timedelta(milliseconds=300)


@pytest.fixture
def server() -> Iterator[Endpoints]:
    with serve() as endpoints:
        yield endpoints


@pytest.fixture
def client() -> HttpClient:
    return HttpClient(trust_env=False)


def test_a_response_is_a_plain_value(server: Endpoints, client: HttpClient) -> None:
    server.routes["/old"] = redirect("/new", 308)
    server.routes["/new"] = reply(200, b'{"ok": true}', {"Content-Type": "application/json"})
    response = client.request("GET", server.url("/old"))
    assert isinstance(response, HttpResponse)
    assert (response.status, response.body, response.url) == (
        200,
        b'{"ok": true}',
        server.url("/new"),
    )
    assert response.header("Content-Type") == "application/json"
    assert response.header("X-Missing") is None
    assert response.elapsed >= timedelta(0)
    assert repr(response) == f"HttpResponse(200 from {server.url('/new')}, 12 bytes)"


def test_user_agent(server: Endpoints, client: HttpClient) -> None:
    server.routes["/"] = reply(200)
    client.request("GET", server.url("/"))
    client.request("GET", server.url("/"), headers={"user-agent": "custom/1"})
    assert [r.headers["User-Agent"] for r in server.received] == [
        f"reconciler/{__version__}",
        "custom/1",
    ]


def test_head_has_no_body(server: Endpoints, client: HttpClient) -> None:
    server.routes["/"] = reply(200, b"ignored")
    assert client.request("HEAD", server.url("/")).body == b""


def test_see_other_turns_a_post_into_a_get(server: Endpoints, client: HttpClient) -> None:
    server.routes["/submit"] = redirect("/result", 303)
    server.routes["/result"] = reply(200)
    server.routes["/keep"] = redirect("/result", 307)
    client.request("POST", server.url("/submit"), body=b"payload")
    client.request("POST", server.url("/keep"), body=b"payload")
    assert [(r.method, r.path, r.body) for r in server.received] == [
        ("POST", "/submit", b"payload"),
        ("GET", "/result", b""),
        ("POST", "/keep", b"payload"),
        ("POST", "/result", b"payload"),
    ]


def test_a_redirect_loop_is_refused(server: Endpoints, client: HttpClient) -> None:
    server.routes["/loop"] = redirect("/loop")
    with pytest.raises(RedirectRefused, match="redirected more than 5 times"):
        client.request("GET", server.url("/loop"), redirects="any")
    assert len(server.received) == 6


def test_a_redirect_to_another_scheme_is_refused(server: Endpoints, client: HttpClient) -> None:
    server.routes["/"] = redirect("ftp://files.example/x")
    with pytest.raises(RedirectRefused, match="redirected to a non-HTTP URL"):
        client.request("GET", server.url("/"), redirects="any")


def test_a_redirect_by_name_to_another_host_is_refused(
    server: Endpoints, client: HttpClient
) -> None:
    server.routes["/"] = redirect(server.url("/", host="localhost"))
    with pytest.raises(RedirectRefused, match="redirected to another host"):
        client.request("GET", server.url("/"))


def test_errors_are_typed(server: Endpoints, client: HttpClient) -> None:
    server.routes["/hang"] = hang()
    server.routes["/big"] = huge(100, declare_length=False)
    with pytest.raises(HttpTimeout) as timeout:
        client.request("GET", server.url("/hang"), timeout=SHORT)
    with pytest.raises(HttpConnectionError) as refused:
        client.request("GET", f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(BodyTooLarge):
        client.request("GET", server.url("/big"), max_body_bytes=99)
    with pytest.raises(InvalidRequest) as invalid:
        client.request("GET", "ftp://files.example/x")
    assert isinstance(timeout.value, TransientError)
    assert isinstance(refused.value, TransientError)
    assert isinstance(invalid.value, PermanentError)
    assert timeout.value.kind == "timeout"


def test_send_all_keeps_order_and_returns_errors_as_values(
    server: Endpoints, client: HttpClient
) -> None:
    server.routes["/ok"] = reply(200)
    requests = [
        HttpRequest("GET", server.url("/ok")),
        HttpRequest("GET", f"http://127.0.0.1:{free_port()}/"),
        HttpRequest("GET", server.url("/nothing-here")),
    ]
    first, second, third = client.send_all(requests, concurrency=2)
    assert isinstance(first, HttpResponse)
    assert first.status == 200
    assert isinstance(second, HttpConnectionError)
    assert isinstance(third, HttpResponse)
    assert third.status == 404
    assert client.send_all([]) == []
    with pytest.raises(ValueError, match="concurrency"):
        client.send_all(requests, concurrency=0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Authorization", f"Bearer {SECRET}\n"),
        ("Authorization", f"{SECRET}\r\nX-Injected: 1"),
        ("Authorization", f"{SECRET}\x00"),
        ("Authorization", f"{SECRET}é"),
        ("Bad Name", SECRET),
        ("X-Evil\n", SECRET),
    ],
)
def test_bad_headers_are_refused_without_quoting_them(
    server: Endpoints, client: HttpClient, name: str, value: str
) -> None:
    server.routes["/"] = reply(200)
    with pytest.raises(InvalidRequest) as refused:
        client.request("GET", server.url("/"), headers={name: value})
    assert SECRET not in str(refused.value)
    assert server.received == []


def test_header_values_stay_out_of_reprs_and_errors(client: HttpClient) -> None:
    port = free_port()
    request = HttpRequest(
        "GET",
        f"http://user:{SECRET}@127.0.0.1:{port}/health?token={SECRET}",
        headers={"Authorization": SECRET},
    )
    assert repr(request) == f"HttpRequest(GET http://127.0.0.1:{port}/health?..., " + (
        "headers=[Authorization])"
    )
    [error] = client.send_all([request])
    assert isinstance(error, HttpConnectionError)
    assert SECRET not in str(error)
    assert SECRET not in error.url


# (url, shown)
SAFE_URLS = [
    ("https://host.example/healthz", "https://host.example/healthz"),
    ("https://user:pw@host.example:8443/a?token=x#frag", "https://host.example:8443/a?..."),
    ("http://[::1]:8080/", "http://[::1]:8080/"),
]


@pytest.mark.parametrize(("url", "shown"), SAFE_URLS)
def test_safe_url(url: str, shown: str) -> None:
    assert safe_url(url) == shown


# (origin, target, same host)
SAME_HOST = [
    ("https://a.example/x", "https://a.example/y", True),
    ("https://a.example/x", "https://A.EXAMPLE:443/y", True),
    ("https://a.example/x", "https://b.example/x", False),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:9000/", False),
    ("http://127.0.0.1:8000/", "http://localhost:8000/", False),
    ("http://a.example/", "https://a.example/", True),  # upgrade on default ports
    ("http://a.example:8080/", "https://a.example:8443/", False),
    ("https://a.example/", "http://a.example/", False),  # never downgrade
    ("https://a.example/", "http://a.example:443/", False),
]


@pytest.mark.parametrize(("origin", "target", "same"), SAME_HOST)
def test_same_host(origin: str, target: str, same: bool) -> None:
    assert same_host(origin, target) is same


@pytest.mark.parametrize("url", ["http://[::1/", "mailto:ops@example.com", "http://"])
def test_invalid_urls_are_invalid_requests(client: HttpClient, url: str) -> None:
    [outcome] = client.send_all([HttpRequest("GET", url)])
    assert isinstance(outcome, InvalidRequest)


@pytest.mark.parametrize("redirects", ["none", "any"])
def test_a_broken_location_is_a_malformed_response(
    server: Endpoints, client: HttpClient, redirects: RedirectPolicy
) -> None:
    server.routes["/"] = redirect("http://[::1/")
    with pytest.raises(HttpConnectionError, match="sent a malformed response"):
        client.request("GET", server.url("/"), redirects=redirects)
