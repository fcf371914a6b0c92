"""The ECR adapter against moto's server on loopback: real boto3 calls, real HTTP.

Images are put with boto3 directly by the test (as ECR stores them: the manifest text and
the sha256 of its bytes as the digest) and read back with boto3 to check what the
adapter wrote. Throttling is answered by a small local server speaking ECR's JSON errors,
since moto does not throttle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from reconciler.errors import PermanentError, PolicyError, TransientError
from reconciler.registry import ImageNotFound, ManifestMismatch, open_registry
from reconciler.registry.ecr import EcrRegistry
from tests.conftest import need
from tests.servers.endpoints import Endpoints, reply, serve
from tests.servers.moto_ecr import ACCOUNT, available, aws_environment, run_moto

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
UNKNOWN = "sha256:" + "0" * 64


def _manifest(content: str) -> str:
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 1}
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2},
            "layers": [
                layer | {"digest": "sha256:" + hashlib.sha256(content.encode()).hexdigest()}
            ],
        },
        indent=3,  # ECR keeps the bytes as pushed; the digest covers them
    )


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class Ecr:
    """moto's ECR, set up and read with boto3 directly."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, region: str = "us-east-1") -> Any:
        return boto3.client("ecr", region_name=region, endpoint_url=self.endpoint)

    def create(self, name: str, region: str = "us-east-1") -> str:
        self.client(region).create_repository(repositoryName=name)
        host = f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com"
        return f"{host}/{name}"

    def put(
        self,
        name: str,
        text: str,
        tag: str | None,
        media_type: str = OCI_MANIFEST,
        digest: str | None = None,
        region: str = "us-east-1",
    ) -> str:
        digest = digest or _digest(text)
        params: dict[str, str] = {
            "repositoryName": name,
            "imageManifest": text,
            "imageManifestMediaType": media_type,
            "imageDigest": digest,
        }
        if tag is not None:
            params["imageTag"] = tag
        self.client(region).put_image(**params)
        return digest

    def digest_of(self, name: str, tag: str) -> str | None:
        found = self.client().batch_get_image(repositoryName=name, imageIds=[{"imageTag": tag}])
        images = found["images"]
        return images[0]["imageId"]["imageDigest"] if images else None


@pytest.fixture(scope="module")
def ecr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ecr]:
    need(available(), "moto's server (pip: moto[server])")
    folder = tmp_path_factory.mktemp("moto")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in aws_environment(folder).items():
            patch.setenv(name, value)
        with run_moto(folder) as endpoint:
            yield Ecr(endpoint)


def _adapter(ecr: Ecr, **options: Any) -> EcrRegistry:
    return EcrRegistry(endpoint_url=ecr.endpoint, **options)


def test_resolve_exists_and_move_a_tag(ecr: Ecr) -> None:
    repository = ecr.create("shop/cart")
    first = ecr.put("shop/cart", _manifest("one"), "v1")
    second = ecr.put("shop/cart", _manifest("two"), "v2")
    registry = _adapter(ecr)

    assert registry.resolve(repository, "v1") == first
    assert registry.exists(repository, first) is True
    assert registry.exists(repository, UNKNOWN) is False

    assert registry.tag(repository, first, "staging") is True
    assert ecr.digest_of("shop/cart", "staging") == first
    assert registry.tag(repository, first, "staging") is False  # ImageAlreadyExists

    assert registry.tag(repository, second, "staging") is True
    assert ecr.digest_of("shop/cart", "staging") == second
    assert registry.resolve(repository, "staging") == second
    assert registry.tags(repository) == ("staging", "v1", "v2")


def test_a_multi_platform_index_resolves_to_the_index_digest(ecr: Ecr) -> None:
    repository = ecr.create("shop/multi")
    platforms = [ecr.put("shop/multi", _manifest(arch), None) for arch in ("amd64", "arm64")]
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": d,
                    "size": 300,
                    "platform": {"architecture": a, "os": "linux"},
                }
                for d, a in zip(platforms, ("amd64", "arm64"), strict=True)
            ],
        }
    )
    digest = ecr.put("shop/multi", index, "1.0", media_type=OCI_INDEX)
    registry = _adapter(ecr)
    assert registry.resolve(repository, "1.0") == digest
    assert registry.tag(repository, digest, "production") is True
    assert ecr.digest_of("shop/multi", "production") == digest


def test_unknown_repository_tag_and_deleted_tag(ecr: Ecr) -> None:
    repository = ecr.create("shop/gone")
    ecr.put("shop/gone", _manifest("gone"), "v1")
    ecr.put("shop/gone", _manifest("kept"), "v2")
    registry = _adapter(ecr)
    nobody = f"{HOST}/shop/nobody"

    with pytest.raises(ImageNotFound, match=f"ECR repository {nobody} does not exist"):
        registry.resolve(nobody, "v1")
    assert registry.exists(nobody, UNKNOWN) is False
    with pytest.raises(ImageNotFound):
        registry.tag(nobody, UNKNOWN, "staging")
    with pytest.raises(ImageNotFound, match=f"ECR repository {repository} has no tag 'v9'"):
        registry.resolve(repository, "v9")

    ecr.client().batch_delete_image(repositoryName="shop/gone", imageIds=[{"imageTag": "v1"}])
    with pytest.raises(ImageNotFound):
        registry.resolve(repository, "v1")
    with pytest.raises(ImageNotFound):
        registry.tag(repository, UNKNOWN, "staging")
    assert ecr.digest_of("shop/gone", "staging") is None


def test_a_manifest_whose_bytes_do_not_match_its_digest_is_refused(ecr: Ecr) -> None:
    repository = ecr.create("shop/liar")
    liar = ecr.put("shop/liar", _manifest("liar"), "v1", digest="sha256:" + "d" * 64)
    registry = _adapter(ecr)
    with pytest.raises(ManifestMismatch, match="refused"):
        registry.exists(repository, liar)
    with pytest.raises(ManifestMismatch):
        registry.tag(repository, liar, "staging")
    assert ecr.digest_of("shop/liar", "staging") is None


def test_region_comes_from_the_host_unless_the_policy_sets_one(ecr: Ecr) -> None:
    in_eu = ecr.create("shop/eu", region="eu-west-1")
    digest = ecr.put("shop/eu", _manifest("eu"), "v1", region="eu-west-1")
    assert _adapter(ecr).resolve(in_eu, "v1") == digest
    # The same name with a us-east-1 host, and the policy saying eu-west-1: the policy wins.
    assert _adapter(ecr, region="eu-west-1").resolve(f"{HOST}/shop/eu", "v1") == digest
    with pytest.raises(ImageNotFound):
        _adapter(ecr).resolve(f"{HOST}/shop/eu", "v1")


def test_a_host_that_names_no_region_needs_the_policys(ecr: Ecr) -> None:
    with pytest.raises(
        PolicyError, match=r"cannot tell the ECR region of ecr\.internal\.example/app"
    ):
        _adapter(ecr).resolve("ecr.internal.example/app", "v1")


def test_the_budget_holds_until_the_next_cycle(ecr: Ecr) -> None:
    repository = ecr.create("shop/budget")
    digest = ecr.put("shop/budget", _manifest("budget"), "v1")
    registry = _adapter(ecr, budget=2)
    registry.resolve(repository, "v1")
    registry.exists(repository, digest)
    with pytest.raises(TransientError, match="budget of 2 API calls per cycle spent, next cycle"):
        registry.tag(repository, digest, "staging")
    registry.new_cycle()
    assert registry.tag(repository, digest, "staging") is True
    # A one-page listing is one call: the end of the pages costs nothing.
    assert _adapter(ecr, budget=1).tags(repository) == ("staging", "v1")


def test_the_factory_builds_the_ecr_adapter(ecr: Ecr) -> None:
    repository = ecr.create("shop/factory")
    digest = ecr.put("shop/factory", _manifest("factory"), "v1")
    registry = open_registry("ecr", endpoint_url=ecr.endpoint)
    assert registry.resolve(repository, "v1") == digest
    with pytest.raises(PolicyError, match="plain HTTP applies to OCI registries only"):
        open_registry("ecr", plain_http=True)


def test_no_credentials_is_permanent_and_says_where_it_looked(
    ecr: Ecr, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    for name, value in aws_environment(tmp_path, credentials=False).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PermanentError, match=r"no usable AWS credentials .*IRSA, EKS Pod Identity"):
        _adapter(ecr).resolve(f"{HOST}/shop/cart", "v1")


# -- throttling ----------------------------------------------------------------------------------


@pytest.fixture
def throttling() -> Iterator[Endpoints]:
    with serve() as server:
        server.routes["/"] = reply(
            400,
            json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode(),
            {"Content-Type": "application/x-amz-json-1.1"},
        )
        yield server


def test_throttling_is_retried_by_botocore_then_transient(ecr: Ecr, throttling: Endpoints) -> None:
    registry = EcrRegistry(endpoint_url=throttling.url(""), max_attempts=2)
    with pytest.raises(TransientError) as caught:
        registry.resolve(f"{HOST}/shop/cart", "v1")
    assert str(caught.value) == (
        f"ECR describe_images on {HOST}/shop/cart failed (ThrottlingException); retrying next cycle"
    )
    assert len(throttling.paths()) == 2  # botocore's standard mode retried once
