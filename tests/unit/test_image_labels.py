"""Reading what an image says of itself (registry/labels.py): pure, bytes in."""

from __future__ import annotations

import json

import pytest

from reconciler.registry.labels import (
    MAX_VALUE,
    config_digest,
    config_labels,
    image_labels,
    platform_manifest,
)
from reconciler.registry.port import ImageLabels

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def _index(*entries: tuple[str, str | None, str | None]) -> bytes:
    manifests = []
    for digest, system, arch in entries:
        entry: dict[str, object] = {"digest": digest, "mediaType": "x", "size": 1}
        if system is not None:
            entry["platform"] = {"os": system, "architecture": arch}
        manifests.append(entry)
    return json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_index((A, "linux", "arm64"), (B, "linux", "amd64")), B),
        (_index((A, "linux", "arm64"), (B, "windows", "amd64")), A),
        (_index((A, "unknown", "unknown"), (B, "linux", "arm64")), B),  # attestation skipped
        (_index((A, None, None)), A),  # no platform said: taken
        (_index(("sha256:short", "linux", "amd64"), (B, "linux", "arm64")), B),
        (_index(), None),
        (b"not json", None),
        (b"[]", None),
    ],
)
def test_platform_manifest(body: bytes, expected: str | None) -> None:
    assert platform_manifest(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps({"config": {"digest": C}}).encode(), C),
        (json.dumps({"config": {"digest": "latest"}}).encode(), None),
        (json.dumps({"config": "x"}).encode(), None),
        (b"{", None),
    ],
)
def test_config_digest(body: bytes, expected: str | None) -> None:
    assert config_digest(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps({"config": {"Labels": {"a": "1", "b": 2}}}).encode(), {"a": "1"}),
        (json.dumps({"config": {"Labels": None}}).encode(), {}),
        (json.dumps({"config": {}}).encode(), {}),
        (b"null", {}),
    ],
)
def test_config_labels(body: bytes, expected: dict[str, str]) -> None:
    assert config_labels(body) == expected


KEY = "org.opencontainers.image."


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ([{KEY + "version": "1.2"}], ImageLabels(version="1.2")),
        # the first source saying a key wins; an empty value says nothing
        (
            [{KEY + "version": " "}, {KEY + "version": "2", KEY + "revision": "abc"}],
            ImageLabels(version="2", revision="abc"),
        ),
        ([{KEY + "source": "a\nb\x1b[31m"}], ImageLabels(source="ab[31m")),
        ([{KEY + "created": "x" * 1000}], ImageLabels(created="x" * MAX_VALUE)),
        ([{"version": "1"}], ImageLabels()),
        ([], ImageLabels()),
    ],
)
def test_image_labels(sources: list[dict[str, str]], expected: ImageLabels) -> None:
    assert image_labels(*sources) == expected
    assert expected.known == any(
        (expected.revision, expected.source, expected.version, expected.created)
    )
