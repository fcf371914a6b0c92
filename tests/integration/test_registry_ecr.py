"""The ECR adapter against moto's server on loopback: real boto3 calls, real HTTP.

Images are put with boto3 directly by the test (as ECR stores them: the manifest text and
the sha256 of its bytes as the digest) and read back with boto3 to check what the
adapter wrote. Throttling, and failures of single ids in a batched read, are answered by a
small local server speaking ECR's JSON, since moto does neither. API calls are counted by
the forwarder ``moto_ecr.counting`` puts in front of moto.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from benchmarks import ecr_calls
from reconciler.errors import PermanentError, PolicyError, ReconcilerError, TransientError
from reconciler.registry import ImageNotFound, ManifestMismatch, open_registry
from reconciler.registry.ecr import EcrRegistry
from tests.conftest import need
from tests.servers.endpoints import Endpoints, Route, reply, serve
from tests.servers.moto_ecr import ACCOUNT, Counted, available, aws_environment, counting, run_moto

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


# -- batched reads ---------------------------------------------------------------------------------


@pytest.fixture
def counted(ecr: Ecr) -> Iterator[Counted]:
    with counting(ecr.endpoint) as forwarder:
        yield forwarder


def test_resolve_all_is_one_describe_images_call_per_100_tags(ecr: Ecr, counted: Counted) -> None:
    repository = ecr.create("shop/many-tags")
    digests = {f"t{n}": ecr.put("shop/many-tags", _manifest(f"t{n}"), f"t{n}") for n in range(150)}
    answers = EcrRegistry(endpoint_url=counted.url).resolve_all(repository, list(digests))
    assert answers == digests
    assert counted.operations() == ["DescribeImages", "DescribeImages"]  # 100, then 50


def test_exists_all_is_one_batch_get_image_call_per_100_digests(ecr: Ecr, counted: Counted) -> None:
    repository = ecr.create("shop/many-images")
    known = [ecr.put("shop/many-images", _manifest(f"m{n}"), None) for n in range(100)]
    answers = EcrRegistry(endpoint_url=counted.url).exists_all(repository, [*known, UNKNOWN])
    assert answers == dict.fromkeys(known, True) | {UNKNOWN: False}
    assert counted.operations() == ["BatchGetImage", "BatchGetImage"]  # 100, then 1


def test_an_unknown_tag_among_many_costs_a_batch_get_image_more(ecr: Ecr, counted: Counted) -> None:
    repository = ecr.create("shop/unknown-among")
    one = ecr.put("shop/unknown-among", _manifest("one"), "v1")
    two = ecr.put("shop/unknown-among", _manifest("two"), "v2")
    registry = EcrRegistry(endpoint_url=counted.url)

    answers = registry.resolve_all(repository, ["v1", "v2", "v9"])
    assert (answers["v1"], answers["v2"]) == (one, two)
    assert str(answers["v9"]) == f"ECR repository {repository} has no tag 'v9'"
    # describe_images has no per-id failures, so v9 failed the call; batch_get_image has.
    assert counted.operations() == ["DescribeImages", "BatchGetImage"]

    # moto names an image in batch_get_image by the last tag put on it, not the one asked
    # (ECR's own example answers the tag asked), so v1 is asked again alone.
    ecr.put("shop/unknown-among", _manifest("one"), "staging")
    counted.clear()
    answers = registry.resolve_all(repository, ["v1", "staging", "v9"])
    assert (answers["v1"], answers["staging"]) == (one, one)
    assert isinstance(answers["v9"], ImageNotFound)
    assert counted.operations() == ["DescribeImages", "BatchGetImage", "DescribeImages"]


def test_a_batched_call_spends_the_budget_once(ecr: Ecr, counted: Counted) -> None:
    repository = ecr.create("shop/batch-budget")
    one = ecr.put("shop/batch-budget", _manifest("one"), "v1")
    two = ecr.put("shop/batch-budget", _manifest("two"), "v2")
    registry = EcrRegistry(endpoint_url=counted.url, budget=1)

    assert registry.resolve_all(repository, ["v1", "v2"]) == {"v1": one, "v2": two}
    spent = registry.exists_all(repository, [one, two])
    assert spent.keys() == {one, two}
    for answer in spent.values():
        assert isinstance(answer, TransientError)
        assert "budget of 1 API calls per cycle spent" in str(answer)
    registry.new_cycle()
    assert registry.exists_all(repository, [one, two]) == {one: True, two: True}
    assert counted.operations() == ["DescribeImages", "BatchGetImage"]


def test_registry_facts_ask_ecr_once_per_repository(ecr: Ecr) -> None:
    """The benchmark's measure (benchmarks/ecr_calls.py), small: it runs, and its counts."""
    apps = 4
    ecr_calls.seed(ecr.endpoint, apps)
    found = ecr_calls.measure(ecr.endpoint, apps, cycles=2)
    assert {
        scenario: (dict(before), dict(after)) for scenario, (before, after) in found.items()
    } == {
        "idle, digests pinned": ({"DescribeImages": 2 * apps}, {"DescribeImages": apps}),
        "idle, dev pinned by tag": ({"DescribeImages": 3 * apps}, {"DescribeImages": apps}),
        "a candidate on every edge": (
            {"DescribeImages": 2 * apps, "BatchGetImage": 2 * apps},
            {"DescribeImages": apps, "BatchGetImage": apps},
        ),
    }


# -- failures of single ids, from a stand-in for ECR ---------------------------------------------


def _ecr_stub(answer: Any) -> Route:
    """Answer each call with ``answer(operation, asked ids)``: (status, JSON document)."""

    def route(handler: Any, server: Endpoints) -> None:
        with server.served:
            body = next(r.body for r in reversed(server.received) if r.headers is handler.headers)
        request = json.loads(body)
        operation = handler.headers["X-Amz-Target"].rpartition(".")[2]
        ids = [i.get("imageDigest") or i.get("imageTag") for i in request["imageIds"]]
        status, document = answer(operation, ids)
        reply(status, json.dumps(document).encode(), {"Content-Type": JSON_11})(handler, server)

    return route


JSON_11 = "application/x-amz-json-1.1"
LIAR = _manifest("liar")
FAILING = {
    "sha256:" + "1" * 64: "KmsError",
    "sha256:" + "2" * 64: "ImageNotFound",
    "sha256:" + "3" * 64: "ImageInaccessible",
}


def _failing_digests(operation: str, ids: list[str]) -> tuple[int, Any]:
    assert operation == "BatchGetImage"
    return 200, {
        "images": [
            {
                "imageId": {"imageDigest": d},
                "imageManifest": LIAR,
                "imageManifestMediaType": OCI_MANIFEST,
            }
            for d in ids
            if d == UNKNOWN
        ],
        "failures": [
            {"imageId": {"imageDigest": d}, "failureCode": FAILING[d], "failureReason": "stub"}
            for d in ids
            if d in FAILING
        ],
    }


def test_failures_of_single_digests_read_as_exists_reads_them(ecr: Ecr) -> None:
    with serve() as stub:
        stub.routes["/"] = _ecr_stub(_failing_digests)
        registry = EcrRegistry(endpoint_url=stub.url(""))
        repository = f"{HOST}/shop/stub"
        answers = registry.exists_all(repository, [*FAILING, UNKNOWN])
        assert len(stub.received) == 1
        kms, missing, refused, liar = (answers[d] for d in [*FAILING, UNKNOWN])
        assert missing is False
        assert isinstance(kms, TransientError)
        assert isinstance(refused, PermanentError)
        assert isinstance(liar, ManifestMismatch)
        assert str(kms) == (
            f"ECR could not read {repository}@{'sha256:' + '1' * 64} (KmsError); "
            "retrying next cycle"
        )
        for digest, answer in answers.items():
            if answer is False:
                assert registry.exists(repository, digest) is False
                continue
            assert isinstance(answer, ReconcilerError)
            with pytest.raises(type(answer)) as single:
                registry.exists(repository, digest)
            assert str(single.value) == str(answer)


def _failing_tags(operation: str, ids: list[str]) -> tuple[int, Any]:
    if operation == "DescribeImages":
        return 400, {"__type": "ImageNotFoundException", "message": "stub"}
    digest = "sha256:" + "4" * 64
    return 200, {
        "images": [
            {"imageId": {"imageTag": "found", "imageDigest": digest}, "imageManifest": LIAR}
        ],
        "failures": [
            {"imageId": {"imageTag": "kms"}, "failureCode": "KmsError"},
            {"imageId": {"imageTag": "gone"}, "failureCode": "ImageNotFound"},
            {"imageId": {"imageTag": "refused"}, "failureCode": "ImageInaccessible"},
        ],
    }


def test_failures_of_single_tags_read_as_the_digests_are(ecr: Ecr) -> None:
    with serve() as stub:
        stub.routes["/"] = _ecr_stub(_failing_tags)
        repository = f"{HOST}/shop/stub"
        answers = EcrRegistry(endpoint_url=stub.url("")).resolve_all(
            repository, ["found", "kms", "gone", "refused"]
        )
        operations = [r.headers["X-Amz-Target"].rpartition(".")[2] for r in stub.received]
    assert operations == ["DescribeImages", "BatchGetImage"]
    assert answers["found"] == "sha256:" + "4" * 64  # resolving reads no manifest's bytes
    assert (
        str(answers["kms"])
        == f"ECR could not read {repository}:kms (KmsError); retrying next cycle"
    )
    assert isinstance(answers["kms"], TransientError)
    assert isinstance(answers["gone"], ImageNotFound)
    assert str(answers["gone"]) == f"ECR repository {repository} has no tag 'gone'"
    assert isinstance(answers["refused"], PermanentError)
    assert not isinstance(answers["refused"], ImageNotFound)
