"""The registry API's headers and manifests: challenges, Retry-After, Link, media types, digests."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from reconciler.registry.headers import (
    Challenge,
    next_link,
    parse_challenge,
    parse_retry_after,
)
from reconciler.registry.manifests import (
    ACCEPT,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    media_type_of,
    verified,
)
from reconciler.registry.port import Manifest, ManifestMismatch

NOW = datetime(2026, 5, 10, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            'Bearer realm="https://auth.example/token",service="registry.example",'
            'scope="repository:team/app:pull,push"',
            Challenge(
                "bearer",
                {
                    "realm": "https://auth.example/token",
                    "service": "registry.example",
                    "scope": "repository:team/app:pull,push",
                },
            ),
        ),
        ('Basic realm="Registry Realm"', Challenge("basic", {"realm": "Registry Realm"})),
        (
            'bearer  realm = "https://a/t" , service=svc,error="insufficient_scope"',
            Challenge(
                "bearer", {"realm": "https://a/t", "service": "svc", "error": "insufficient_scope"}
            ),
        ),
        ('Bearer realm="a \\"quoted\\" realm"', Challenge("bearer", {"realm": 'a "quoted" realm'})),
        ("Bearer", Challenge("bearer", {})),
        ("", None),
        (None, None),
    ],
)
def test_challenges(value: str | None, expected: Challenge | None) -> None:
    found = parse_challenge(value)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.scheme, dict(found.params)) == (expected.scheme, dict(expected.params))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Sun, 10 May 2026 12:00:30 GMT", 30.0),
        ("Sun, 10 May 2026 11:59:00 GMT", 0.0),  # already past
        ("soon", None),
        ("-1", None),
        ("1.5", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ('</v2/app/tags/list?last=b&n=2>; rel="next"', "/v2/app/tags/list?last=b&n=2"),
        ("</v2/app/tags/list?last=b&n=2>; rel=next", "/v2/app/tags/list?last=b&n=2"),
        ('<https://x/a>; rel="prev", <https://x/b>; rel="next"', "https://x/b"),
        ('<https://x/a>; rel="prev"', None),
        ("", None),
        (None, None),
    ],
)
def test_next_link(value: str | None, target: str | None) -> None:
    assert next_link(value) == target


def test_accept_names_every_manifest_and_index_type() -> None:
    assert {t.strip() for t in ACCEPT.split(",")} == {
        OCI_INDEX,
        OCI_MANIFEST,
        DOCKER_LIST,
        DOCKER_MANIFEST,
    }


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (OCI_INDEX, b"{}", OCI_INDEX),
        (f"{DOCKER_MANIFEST}; charset=utf-8", b"{}", DOCKER_MANIFEST),
        ("application/json", json.dumps({"mediaType": OCI_MANIFEST}).encode(), OCI_MANIFEST),
        (None, json.dumps({"mediaType": DOCKER_LIST}).encode(), DOCKER_LIST),
        ("application/json", json.dumps({"mediaType": "text/plain"}).encode(), None),
        ("text/html", b"<html>", None),
        (None, b"[1]", None),
    ],
)
def test_media_type(content_type: str | None, body: bytes, expected: str | None) -> None:
    assert media_type_of(content_type, body) == expected


BODY = b'{"schemaVersion": 2}'
GOOD = "sha256:" + hashlib.sha256(BODY).hexdigest()
OTHER = "sha256:" + "0" * 64


def test_digest_of_is_sha256_of_the_bytes() -> None:
    assert digest_of(BODY) == GOOD
    assert digest_of(BODY + b" ") != GOOD


@pytest.mark.parametrize(
    ("expected", "header"),
    [(GOOD, GOOD), (GOOD, None), (None, GOOD), (None, None)],
)
def test_honest_manifests_pass(expected: str | None, header: str | None) -> None:
    manifest = verified(BODY, media_type=OCI_MANIFEST, expected=expected, header=header, where="w")
    assert manifest == Manifest(GOOD, OCI_MANIFEST, BODY)


@pytest.mark.parametrize(
    ("expected", "header", "message"),
    [
        (OTHER, GOOD, f"hash to {GOOD}, not to the digest asked for {OTHER}"),
        (GOOD, OTHER, f"not to its digest header {OTHER}"),
        (None, OTHER, f"not to its digest header {OTHER}"),
    ],
)
def test_dishonest_manifests_are_refused(expected: str | None, header: str, message: str) -> None:
    with pytest.raises(ManifestMismatch, match="refused") as caught:
        verified(
            BODY, media_type=OCI_MANIFEST, expected=expected, header=header, where="reg/app:v1"
        )
    assert message in str(caught.value)
    assert str(caught.value).startswith("reg/app:v1: ")


def test_a_manifest_of_unknown_type_is_refused() -> None:
    with pytest.raises(ManifestMismatch, match="no manifest media type"):
        verified(BODY, media_type=None, expected=GOOD, header=GOOD, where="w")


def test_manifest_repr_shows_no_body() -> None:
    assert repr(Manifest(GOOD, OCI_MANIFEST, BODY)) == f"Manifest({GOOD}, {OCI_MANIFEST}, 20 bytes)"
