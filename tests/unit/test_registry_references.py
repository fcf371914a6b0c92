"""Image references: what parses into which parts, and what is refused with which message."""

from __future__ import annotations

import pytest

from reconciler.errors import PolicyError
from reconciler.registry.references import (
    EcrHost,
    ImageName,
    check_digest,
    check_tag,
    ecr_host,
    parse_image,
    parse_repository,
)

D = "sha256:" + "a" * 64
ECR = "418773912004.dkr.ecr.ap-south-1.amazonaws.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/app:v1", ImageName("127.0.0.1:5000", "app", "v1")),
        (f"127.0.0.1:5000/app@{D}", ImageName("127.0.0.1:5000", "app", None, D)),
        (f"127.0.0.1:5000/app:v1@{D}", ImageName("127.0.0.1:5000", "app", "v1", D)),
        ("127.0.0.1:5000/team/app", ImageName("127.0.0.1:5000", "team/app")),
        (f"{ECR}/order-gateway:1.4.2", ImageName(ECR, "order-gateway", "1.4.2")),
        ("ghcr.io/acme/svc.api__x-y:latest", ImageName("ghcr.io", "acme/svc.api__x-y", "latest")),
        ("localhost/app:dev", ImageName("localhost", "app", "dev")),
        ("localhost:5000/app", ImageName("localhost:5000", "app")),
        ("[::1]:5000/app:v1", ImageName("[::1]:5000", "app", "v1")),
        ("registry.example/a/b/c:V_1.0-rc", ImageName("registry.example", "a/b/c", "V_1.0-rc")),
        # Docker's rules: no host-like first component means Docker Hub
        ("nginx", ImageName("docker.io", "library/nginx")),
        ("nginx:1.27", ImageName("docker.io", "library/nginx", "1.27")),
        ("acme/app:v1", ImageName("docker.io", "acme/app", "v1")),
        ("a---b/c:t", ImageName("docker.io", "a---b/c", "t")),
    ],
)
def test_parses(text: str, expected: ImageName) -> None:
    assert parse_image(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the image reference is empty"),
        ("127.0.0.1:5000/app:v 1", "contains spaces or control characters"),
        ("127.0.0.1:5000/App:v1", "component 'App' must be lower case"),
        ("127.0.0.1:5000/app_:v1", "component 'app_' is not valid"),
        ("127.0.0.1:5000//app", "empty component"),
        ("127.0.0.1:5000/app/", "empty component"),
        ("127.0.0.1:5000/", "has no repository path"),
        ("127.0.0.1:5000/app:", "tag '' is not valid"),
        ("127.0.0.1:5000/app:-v1", "tag '-v1' is not valid"),
        ("127.0.0.1:5000/app:" + "t" * 129, "is not valid: a tag is 1 to 128"),
        ("127.0.0.1:5000/app@sha256:abc", "digest 'sha256:abc' is not valid"),
        ("127.0.0.1:5000/app@" + "sha512:" + "a" * 128, "write sha256:"),
        ("127.0.0.1:5000/app@" + "sha256:" + "A" * 64, "64 lower-case hex digits"),
        ("bad_host.example:5000/app", "'bad_host.example:5000' is not a valid registry host"),
        ("host.example:port/app", "is not a valid registry host"),
        ("h.example/" + "a" * 250, "longer than 255 characters"),
    ],
)
def test_refuses_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_image(text)
    assert message in str(caught.value)


def test_the_image_is_named_in_every_refusal() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_image("127.0.0.1:5000/App:v1")
    assert "'127.0.0.1:5000/App:v1'" in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        ImageName("127.0.0.1:5000", "app", "v1", D),
        ImageName(ECR, "team/app", "1.0"),
        ImageName("ghcr.io", "acme/app", None, D),
        ImageName("docker.io", "library/nginx"),
    ],
)
def test_str_parses_back(name: ImageName) -> None:
    assert parse_image(str(name)) == name


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("127.0.0.1:5000/app", True),
        (f"{ECR}/order-gateway", True),
        ("127.0.0.1:5000/app:v1", False),
        (f"127.0.0.1:5000/app@{D}", False),
    ],
)
def test_a_repository_has_no_tag_or_digest(text: str, ok: bool) -> None:
    if ok:
        assert parse_repository(text).repository == text
    else:
        with pytest.raises(PolicyError, match="names an image, not a repository"):
            parse_repository(text)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (ECR, EcrHost("418773912004", "ap-south-1")),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", EcrHost("123456789012", "us-east-1")),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            EcrHost("123456789012", "us-gov-west-1"),
        ),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", EcrHost("123456789012", "cn-north-1")),
        ("12345678901.dkr.ecr.us-east-1.amazonaws.com", None),  # 11 digits: not an account
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", None),
        ("public.ecr.aws", None),
        ("127.0.0.1:5000", None),
    ],
)
def test_ecr_hosts(host: str, expected: EcrHost | None) -> None:
    assert ecr_host(host) == expected


@pytest.mark.parametrize(("tag", "ok"), [("v1", True), ("_x", True), (".x", False), ("a/b", False)])
def test_check_tag(tag: str, ok: bool) -> None:
    if ok:
        assert check_tag(tag) == tag
    else:
        with pytest.raises(PolicyError, match=r"the tag: tag .* is not valid"):
            check_tag(tag)


@pytest.mark.parametrize(
    ("digest", "ok"), [(D, True), ("sha256:" + "a" * 63, False), ("a" * 64, False)]
)
def test_check_digest(digest: str, ok: bool) -> None:
    if ok:
        assert check_digest(digest) == digest
    else:
        with pytest.raises(PolicyError, match="is not valid: write sha256:"):
            check_digest(digest, where="--digest")
