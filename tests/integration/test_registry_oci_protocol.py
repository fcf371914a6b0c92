"""The OCI adapter against registries that misbehave on purpose (a small HTTP server on
loopback): lying digests, 429s, server errors, basic and bearer challenges, odd pages.

What a well-behaved registry does is tested against the real one (test_registry_oci.py);
these are the answers Debian's docker-registry cannot be made to give.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.errors import PermanentError, TransientError
from reconciler.httpclient.client import HttpClient
from reconciler.registry import ImageNotFound, ManifestMismatch
from reconciler.registry.dockerconfig import BasicCredentials, DockerCredentials
from reconciler.registry.oci import OciRegistry
from tests.servers.endpoints import Endpoints, Route, reply, reply_json, serve

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BODY = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
TAMPERED = BODY.replace(b'"layers"', b'"Layers"')
NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
SECRET = "hunter2-do-not-show"


@pytest.fixture
def server() -> Iterator[Endpoints]:
    with serve() as endpoints:
        yield endpoints


class Sleeps(list[float]):
    """Records the waits the adapter asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _adapter(
    sleeps: Sleeps | None = None, credentials: DockerCredentials | None = None, **options: Any
) -> OciRegistry:
    return OciRegistry(
        HttpClient(trust_env=False),
        plain_http=True,
        credentials=credentials,
        clock=lambda: NOW,
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,
    )


def _manifest(body: bytes = BODY, digest_header: str | None = DIGEST) -> Route:
    headers = {"Content-Type": OCI_MANIFEST}
    if digest_header is not None:
        headers["Docker-Content-Digest"] = digest_header
    return reply(200, body, headers)


def _serve_image(server: Endpoints, body: bytes = BODY, header: str | None = DIGEST) -> str:
    server.routes["/v2/app/manifests/v1"] = _manifest(body, header)
    server.routes[f"/v2/app/manifests/{DIGEST}"] = _manifest(body, header)
    return f"127.0.0.1:{server.port}/app"


def _methods(server: Endpoints) -> list[str]:
    with server.served:
        return [r.method for r in server.received]


# -- digests that do not match the bytes --------------------------------------------------------


def test_a_body_that_does_not_hash_to_its_digest_is_refused(server: Endpoints) -> None:
    repository = _serve_image(server, body=TAMPERED)
    registry = _adapter()
    with pytest.raises(ManifestMismatch, match="refused") as caught:
        registry.resolve(repository, "v1")
    assert DIGEST in str(caught.value)
    with pytest.raises(ManifestMismatch):
        registry.exists(repository, DIGEST)
    with pytest.raises(ManifestMismatch):
        registry.tag(repository, DIGEST, "staging")
    assert "PUT" not in _methods(server)  # nothing was written


def test_a_digest_header_that_lies_about_honest_bytes_is_refused(server: Endpoints) -> None:
    liar = "sha256:" + "e" * 64
    server.routes["/v2/app/manifests/v1"] = _manifest(BODY, liar)
    server.routes[f"/v2/app/manifests/{liar}"] = _manifest(BODY, liar)
    with pytest.raises(ManifestMismatch, match=f"not to the digest asked for {liar}"):
        _adapter().resolve(f"127.0.0.1:{server.port}/app", "v1")


def test_without_a_digest_header_the_digest_is_the_bytes_hash(server: Endpoints) -> None:
    repository = _serve_image(server, header=None)
    assert _adapter().resolve(repository, "v1") == DIGEST
    assert _methods(server) == ["HEAD", "GET"]


# -- names and digests as the grammar has them (issue 18) ---------------------------------------


@pytest.mark.parametrize(
    "repository", ["nginx", "docker.io/nginx", "index.docker.io/nginx", "docker.io/library/nginx"]
)
def test_a_docker_hub_name_is_asked_for_under_library(server: Endpoints, repository: str) -> None:
    server.routes["/v2/library/nginx/manifests/v1"] = _manifest()
    server.routes[f"/v2/library/nginx/manifests/{DIGEST}"] = _manifest()
    registry = _adapter(endpoint_url=server.url(""))  # a mirror stands in for Docker Hub
    assert registry.resolve(repository, "v1") == DIGEST
    assert all(path.startswith("/v2/library/nginx/") for path in server.paths())


def test_a_sha512_digest_is_checked_with_sha512(server: Endpoints) -> None:
    sha512 = "sha512:" + hashlib.sha512(BODY).hexdigest()
    server.routes[f"/v2/app/manifests/{sha512}"] = _manifest()  # the header says sha256
    assert _adapter().exists(f"127.0.0.1:{server.port}/app", sha512)
    lie = "sha512:" + "e" * 128
    server.routes[f"/v2/app/manifests/{lie}"] = _manifest()
    with pytest.raises(ManifestMismatch, match=f"not to the digest asked for {lie}"):
        _adapter().exists(f"127.0.0.1:{server.port}/app", lie)


def test_a_digest_header_that_is_no_digest_is_refused(server: Endpoints) -> None:
    server.routes[f"/v2/app/manifests/{DIGEST}"] = _manifest(BODY, "blake3:" + "e" * 64)
    with pytest.raises(ManifestMismatch, match="the algorithm 'blake3' is not accepted"):
        _adapter().exists(f"127.0.0.1:{server.port}/app", DIGEST)


# -- rate limits, budgets and errors -------------------------------------------------------------


def _limited(times: int, retry_after: str | None) -> Route:
    """Answer 429 ``times`` times, then serve the manifest."""
    served = _manifest()
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    limited = reply(429, b'{"errors": [{"code": "TOOMANYREQUESTS"}]}', headers)
    count = {"n": 0}

    def route(handler: Any, endpoints: Endpoints) -> None:
        count["n"] += 1
        (limited if count["n"] <= times else served)(handler, endpoints)

    return route


@pytest.mark.parametrize(
    ("retry_after", "waits"),
    [
        ("3", [3.0, 3.0]),
        ("Sun, 10 May 2026 12:00:07 GMT", [7.0, 7.0]),
        (None, [1.0, 2.0]),  # no Retry-After: a doubling wait
    ],
)
def test_429s_are_waited_out_as_retry_after_says(
    server: Endpoints, retry_after: str | None, waits: list[float]
) -> None:
    server.routes["/v2/app/manifests/v1"] = _limited(2, retry_after)
    server.routes[f"/v2/app/manifests/{DIGEST}"] = _manifest()
    sleeps = Sleeps()
    assert _adapter(sleeps).resolve(f"127.0.0.1:{server.port}/app", "v1") == DIGEST
    assert sleeps == waits


def test_429s_past_the_retries_wait_for_the_next_cycle(server: Endpoints) -> None:
    server.routes["/v2/app/manifests/v1"] = _limited(100, "1")
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="still rate-limiting requests after 3 waits"):
        _adapter(sleeps, max_retries=3).resolve(f"127.0.0.1:{server.port}/app", "v1")
    assert sleeps == [1.0, 1.0, 1.0]
    assert len(_methods(server)) == 4


def test_a_retry_after_longer_than_the_bound_is_not_waited(server: Endpoints) -> None:
    server.routes["/v2/app/manifests/v1"] = _limited(100, "3600")
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="asks to wait 3600s, more than the 30s"):
        _adapter(sleeps, max_wait=timedelta(seconds=30)).resolve(
            f"127.0.0.1:{server.port}/app", "v1"
        )
    assert sleeps == []


def test_429_retries_count_against_the_budget(server: Endpoints) -> None:
    server.routes["/v2/app/manifests/v1"] = _limited(100, "1")
    with pytest.raises(TransientError, match="request budget of 2 per cycle spent"):
        _adapter(budget=2).resolve(f"127.0.0.1:{server.port}/app", "v1")
    assert len(_methods(server)) == 2


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (503, TransientError, f"answered 503 UNAVAILABLE fetching image {DIGEST} in 127.0.0.1"),
        (500, TransientError, "/app; retrying next cycle"),
        (408, TransientError, "answered 408 UNAVAILABLE"),
        (403, PermanentError, "denied access to 127.0.0.1"),
        (400, PermanentError, "answered 400 UNAVAILABLE fetching image sha256:"),
    ],
)
def test_error_statuses(
    server: Endpoints, status: int, error: type[Exception], message: str
) -> None:
    server.routes[f"/v2/app/manifests/{DIGEST}"] = reply(
        status, b'{"errors": [{"code": "UNAVAILABLE", "message": "x"}]}'
    )
    with pytest.raises(error) as caught:
        _adapter().exists(f"127.0.0.1:{server.port}/app", DIGEST)
    assert message in str(caught.value)


def test_a_failing_tag_read_writes_nothing(server: Endpoints) -> None:
    server.routes["/v2/app/manifests/staging"] = reply(503)
    with pytest.raises(TransientError, match="answered 503 reading tag 'staging'"):
        _adapter().tag(f"127.0.0.1:{server.port}/app", DIGEST, "staging")
    assert _methods(server) == ["HEAD"]


def test_a_missing_manifest_in_a_known_repository(server: Endpoints) -> None:
    unknown = reply(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')
    server.routes["/v2/app/manifests/v9"] = unknown
    server.routes["/v2/app/tags/list"] = reply_json({"name": "app", "tags": ["v1"]})
    with pytest.raises(
        ImageNotFound,
        match=r"^repository 127\.0\.0\.1:\d+/app has no tag 'v9' \(MANIFEST_UNKNOWN\)$",
    ):
        _adapter().resolve(f"127.0.0.1:{server.port}/app", "v9")


# -- challenges ----------------------------------------------------------------------------------


def _guarded(expected: str, challenge: str, inner: Route) -> Route:
    """``inner`` for requests whose Authorization is ``expected``; a 401 challenge else."""
    denied = reply(401, b'{"errors": [{"code": "UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})

    def route(handler: Any, endpoints: Endpoints) -> None:
        if handler.headers.get("Authorization") == expected:
            inner(handler, endpoints)
        else:
            denied(handler, endpoints)

    return route


def _authorizations(server: Endpoints) -> list[str | None]:
    with server.served:
        return [r.headers.get("Authorization") for r in server.received]


def test_basic_auth_from_the_docker_config(server: Endpoints) -> None:
    host = f"127.0.0.1:{server.port}"
    basic = "Basic " + base64.b64encode(f"ci:{SECRET}".encode()).decode()
    for path in ("/v2/app/manifests/v1", f"/v2/app/manifests/{DIGEST}"):
        server.routes[path] = _guarded(basic, 'Basic realm="registry"', _manifest())
    credentials = DockerCredentials("config.json", {host: BasicCredentials("ci", SECRET)})
    registry = _adapter(credentials=credentials)
    assert registry.resolve(f"{host}/app", "v1") == DIGEST
    assert registry.resolve(f"{host}/app", "v1") == DIGEST
    # Challenged once; after that the credentials go with every request (the second
    # resolve's HEAD names the digest already proven: no GET follows).
    assert _authorizations(server) == [None, basic, basic, basic]


def test_basic_auth_refused_names_the_config_not_the_password(server: Endpoints) -> None:
    host = f"127.0.0.1:{server.port}"
    server.routes["/v2/app/manifests/v1"] = _guarded("never", 'Basic realm="r"', _manifest())
    credentials = DockerCredentials("/ci/config.json", {host: BasicCredentials("ci", SECRET)})
    with pytest.raises(PermanentError) as caught:
        _adapter(credentials=credentials).resolve(f"{host}/app", "v1")
    assert "refused the credentials for" in str(caught.value)
    assert "/ci/config.json" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_bearer_tokens_are_fetched_once_and_reused(server: Endpoints) -> None:
    host = f"127.0.0.1:{server.port}"
    realm = server.url("/token")
    challenge = f'Bearer realm="{realm}",service="fake-registry",scope="repository:app:pull"'
    for path in ("/v2/app/manifests/v1", f"/v2/app/manifests/{DIGEST}"):
        server.routes[path] = _guarded("Bearer tok-1", challenge, _manifest())
    server.routes["/token"] = reply_json({"token": "tok-1", "expires_in": 300})
    registry = _adapter()
    for _ in range(3):
        assert registry.resolve(f"{host}/app", "v1") == DIGEST
    assert registry.auth.token_requests == 1
    assert server.paths()[:3] == [
        "/v2/app/manifests/v1",
        "/token?scope=repository%3Aapp%3Apull&service=fake-registry",
        "/v2/app/manifests/v1",
    ]
    assert _authorizations(server).count(None) == 2  # the first HEAD and the token request


def test_tag_pages_are_followed_on_the_same_host_only(server: Endpoints) -> None:
    host = f"127.0.0.1:{server.port}"
    page = {
        "Link": '</v2/app/tags/list2?n=2&last=b>; rel="next"',
        "Content-Type": "application/json",
    }
    server.routes["/v2/app/tags/list"] = reply(200, b'{"tags": ["b", "a"]}', page)
    server.routes["/v2/app/tags/list2"] = reply_json({"name": "app", "tags": ["c"]})
    assert _adapter().tags(f"{host}/app") == ("a", "b", "c")

    away = {"Link": '<http://elsewhere.example/v2/app/tags/list?last=b>; rel="next"'}
    server.routes["/v2/app/tags/list"] = reply(200, b'{"tags": ["a"]}', away)
    with pytest.raises(PermanentError, match="is on another host; not followed"):
        _adapter().tags(f"{host}/app")
