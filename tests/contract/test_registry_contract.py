"""The fake registry and the OCI adapter (against Debian's docker-registry) keep one contract.

Each world pushes the same small OCI images (built on disk by the test) and reads tags
back by its own means, not through the port: ``skopeo inspect`` for the real registry,
the fake's own tables for the fake. The batched reads (``resolve_all``, ``exists_all``) are
held to the single ones in those worlds and in a third, the ECR adapter against moto's ECR
server, which stores the same images' manifests with boto3.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3  # type: ignore[import-untyped]
import pytest

from reconciler.errors import PolicyError, ReconcilerError, TransientError
from reconciler.httpclient.client import HttpClient
from reconciler.registry import ImageNotFound, ImageRegistry
from reconciler.registry.ecr import EcrRegistry
from reconciler.registry.oci import OciRegistry
from reconciler.registry.port import ImageLabels
from tests.conftest import need
from tests.fakes.registry import FakeRegistry
from tests.ports import free_port
from tests.servers.docker_registry import DOCKER_REGISTRY, RunningRegistry, run_registry
from tests.servers.moto_ecr import ACCOUNT, available, aws_environment, run_moto
from tests.servers.oci_images import SKOPEO, Image, build, push, skopeo, write_policy

UNKNOWN = "sha256:" + "0" * 64


class World(Protocol):
    @property
    def registry(self) -> ImageRegistry: ...

    def repository(self, name: str) -> str: ...

    def push(
        self,
        name: str,
        tag: str,
        platforms: tuple[str, ...] = (),
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Image: ...

    def read(self, name: str, tag: str) -> str | None: ...

    def delete(self, name: str, tag: str) -> None: ...


_names = itertools.count()


@dataclass
class FakeWorld:
    folder: Path
    registry: FakeRegistry = field(default_factory=FakeRegistry)

    def repository(self, name: str) -> str:
        return f"fake.example:5000/{name}"

    def push(
        self,
        name: str,
        tag: str,
        platforms: tuple[str, ...] = (),
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Image:
        image = build(
            self.folder / f"image-{next(_names)}",
            name,
            tag,
            platforms,
            labels=labels,
            annotations=annotations,
        )
        repository = self.repository(name)
        for blob in sorted((image.layout / "blobs" / "sha256").iterdir()):
            data = blob.read_bytes()
            kind = _media_type(data)
            if kind is None:  # a config or a layer
                self.registry.push_blob(repository, data)
            elif data != image.manifest:  # an index's manifests, untagged
                self.registry.push(repository, None, data, kind)
        self.registry.push(repository, tag, image.manifest, image.media_type)
        return image

    def read(self, name: str, tag: str) -> str | None:
        return self.registry.digest_of(self.repository(name), tag)

    def delete(self, name: str, tag: str) -> None:
        self.registry.delete_tag(self.repository(name), tag)


@dataclass
class OciWorld:
    folder: Path
    running: RunningRegistry
    registry: OciRegistry

    def repository(self, name: str) -> str:
        return f"{self.running.host}/{name}"

    def push(
        self,
        name: str,
        tag: str,
        platforms: tuple[str, ...] = (),
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Image:
        image = build(
            self.folder / f"image-{next(_names)}",
            name,
            tag,
            platforms,
            labels=labels,
            annotations=annotations,
        )
        push(image, f"{self.repository(name)}:{tag}", self._policy())
        return image

    def read(self, name: str, tag: str) -> str | None:
        try:
            out = skopeo(
                "inspect",
                "--tls-verify=false",
                "--no-creds",
                "--format",
                "{{.Digest}}",
                f"docker://{self.repository(name)}:{tag}",
                policy=self._policy(),
            )
        except AssertionError as failed:
            if "manifest unknown" in str(failed):
                return None
            raise
        return out.strip()

    def delete(self, name: str, tag: str) -> None:
        skopeo(
            "delete",
            "--tls-verify=false",
            "--no-creds",
            f"docker://{self.repository(name)}:{tag}",
            policy=self._policy(),
        )

    def _policy(self) -> Path:
        return write_policy(self.folder / "policy.json")


@dataclass
class EcrWorld:
    """moto's ECR: images put and read with boto3 directly, as ECR stores them."""

    folder: Path
    endpoint: str
    registry: EcrRegistry

    def repository(self, name: str) -> str:
        return f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{name}"

    def push(
        self,
        name: str,
        tag: str,
        platforms: tuple[str, ...] = (),
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Image:
        image = build(
            self.folder / f"image-{next(_names)}",
            name,
            tag,
            platforms,
            labels=labels,
            annotations=annotations,
        )
        client = self._client()
        if name not in self._repositories(client):
            client.create_repository(repositoryName=name)
        if platforms:  # an index's manifests are stored before it, untagged
            for child in json.loads(image.manifest)["manifests"]:
                blob = image.layout / "blobs" / "sha256" / child["digest"].partition(":")[2]
                self._put(client, name, blob.read_bytes(), child["mediaType"], None)
        self._put(client, name, image.manifest, image.media_type, tag)
        return image

    def read(self, name: str, tag: str) -> str | None:
        found = self._client().batch_get_image(repositoryName=name, imageIds=[{"imageTag": tag}])
        return next((i["imageId"]["imageDigest"] for i in found["images"]), None)

    def delete(self, name: str, tag: str) -> None:
        self._client().batch_delete_image(repositoryName=name, imageIds=[{"imageTag": tag}])

    def _client(self) -> Any:
        return boto3.client("ecr", region_name="us-east-1", endpoint_url=self.endpoint)

    @staticmethod
    def _repositories(client: Any) -> set[str]:
        return {r["repositoryName"] for r in client.describe_repositories()["repositories"]}

    @staticmethod
    def _put(client: Any, name: str, body: bytes, media_type: str, tag: str | None) -> None:
        params = {
            "repositoryName": name,
            "imageManifest": body.decode(),
            "imageManifestMediaType": media_type,
            "imageDigest": sha256_of(body),
        }
        client.put_image(**params, **({"imageTag": tag} if tag else {}))


def _media_type(data: bytes) -> str | None:
    """A manifest's or index's media type; None for other blobs (configs, layers)."""
    try:
        document = json.loads(data)
    except ValueError:
        return None
    kind = document.get("mediaType") if isinstance(document, dict) else None
    known = ("manifest.v", "index.v", "manifest.list.v")
    return kind if isinstance(kind, str) and any(k in kind for k in known) else None


def sha256_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@pytest.fixture(scope="module")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    with run_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need(available(), "moto's server (pip: moto[server])")
    folder = tmp_path_factory.mktemp("moto")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in aws_environment(folder).items():
            patch.setenv(name, value)
        with run_moto(folder) as endpoint:
            yield endpoint


@pytest.fixture(params=["fake", "oci", "ecr"])
def batch_world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    """The worlds the batched reads are held to the single ones in."""
    if request.param != "ecr":
        world: World = request.getfixturevalue("world_" + request.param)
        return world
    endpoint: str = request.getfixturevalue("moto")
    return EcrWorld(tmp_path, endpoint, EcrRegistry(endpoint_url=endpoint))


@pytest.fixture
def world_fake(tmp_path: Path) -> World:
    return FakeWorld(tmp_path)


@pytest.fixture
def world_oci(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    running: RunningRegistry = request.getfixturevalue("docker_registry")
    return OciWorld(tmp_path, running, OciRegistry(HttpClient(trust_env=False), plain_http=True))


@pytest.fixture(params=["fake", "oci"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    if request.param == "fake":
        return FakeWorld(tmp_path)
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    running: RunningRegistry = request.getfixturevalue("docker_registry")
    return OciWorld(tmp_path, running, OciRegistry(HttpClient(trust_env=False), plain_http=True))


def _name(request: pytest.FixtureRequest) -> str:
    return f"contract/{request.node.originalname.removeprefix('test_').replace('_', '-')}"


def test_resolve_gives_the_digest_of_the_manifest(
    world: World, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    image = world.push(name, "v1")
    assert world.registry.resolve(world.repository(name), "v1") == image.digest


def test_resolve_of_a_multi_platform_image_gives_the_index_digest(
    world: World, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    image = world.push(name, "v1", platforms=("amd64", "arm64"))
    assert image.media_type == "application/vnd.oci.image.index.v1+json"
    assert world.registry.resolve(world.repository(name), "v1") == image.digest


def test_exists(world: World, request: pytest.FixtureRequest) -> None:
    name = _name(request)
    image = world.push(name, "v1")
    assert world.registry.exists(world.repository(name), image.digest) is True
    assert world.registry.exists(world.repository(name), UNKNOWN) is False
    assert world.registry.exists(world.repository(f"{name}-nobody"), image.digest) is False


def test_moving_a_tag(world: World, request: pytest.FixtureRequest) -> None:
    name = _name(request)
    first = world.push(name, "v1")
    second = world.push(name, "v2", platforms=("amd64", "arm64"))
    repository = world.repository(name)

    assert world.registry.tag(repository, first.digest, "staging") is True
    assert world.read(name, "staging") == first.digest
    assert world.registry.tag(repository, first.digest, "staging") is False  # already there

    assert world.registry.tag(repository, second.digest, "staging") is True
    assert world.read(name, "staging") == second.digest
    assert world.registry.resolve(repository, "staging") == second.digest
    assert world.read(name, "v1") == first.digest  # the source tags stay where they were
    assert world.registry.tags(repository) == ("staging", "v1", "v2")


def test_unknown_repository(world: World, request: pytest.FixtureRequest) -> None:
    repository = world.repository(f"{_name(request)}-nobody")
    with pytest.raises(ImageNotFound, match="does not exist"):
        world.registry.resolve(repository, "v1")
    with pytest.raises(ImageNotFound):
        world.registry.tag(repository, UNKNOWN, "staging")
    with pytest.raises(ImageNotFound):
        world.registry.tags(repository)


def test_unknown_and_deleted_tags(world: World, request: pytest.FixtureRequest) -> None:
    name = _name(request)
    world.push(name, "v1")
    world.push(name, "v2")
    with pytest.raises(ImageNotFound, match="v9"):
        world.registry.resolve(world.repository(name), "v9")
    world.delete(name, "v1")
    with pytest.raises(ImageNotFound, match="v1"):
        world.registry.resolve(world.repository(name), "v1")


def test_tagging_an_unknown_digest_writes_nothing(
    world: World, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    world.push(name, "v1")
    with pytest.raises(ImageNotFound):
        world.registry.tag(world.repository(name), UNKNOWN, "staging")
    assert world.read(name, "staging") is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r, repo: r.resolve(repo + ":v1", "v1"), "names an image, not a repository"),
        (lambda r, repo: r.resolve(repo, "-v1"), "tag '-v1' is not valid"),
        (lambda r, repo: r.exists(repo, "sha256:abc"), "invalid digest 'sha256:abc'"),
        (lambda r, repo: r.tag(repo, UNKNOWN, "a/b"), "tag 'a/b' is not valid"),
        (lambda r, repo: r.tags(repo.upper()), "must be lower case"),
    ],
)
def test_malformed_input_is_a_policy_error(
    world: World,
    call: Callable[[ImageRegistry, str], object],
    message: str,
    request: pytest.FixtureRequest,
) -> None:
    with pytest.raises(PolicyError, match=message):
        call(world.registry, world.repository(_name(request)))


def test_an_unreachable_registry_is_transient(world: World) -> None:
    if isinstance(world, FakeWorld):
        world.registry.unreachable = True
        repository = world.repository("app")
    else:
        repository = f"127.0.0.1:{free_port()}/app"
    with pytest.raises(TransientError, match="unreachable"):
        world.registry.resolve(repository, "v1")
    with pytest.raises(TransientError, match="unreachable"):
        world.registry.tag(repository, UNKNOWN, "staging")


# -- labels: what an image says of itself ---------------------------------------------------------

LABELS = {
    "org.opencontainers.image.revision": "4f1c2a9e0b7d6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
    "org.opencontainers.image.source": "https://github.com/acme/order-gateway",
    "org.opencontainers.image.version": "1.5.0-{arch}",
    "org.opencontainers.image.created": "2026-12-01T10:00:00Z",
    "maintainer": "someone",
}


def test_labels_come_from_the_image_config(world: World, request: pytest.FixtureRequest) -> None:
    name = _name(request)
    image = world.push(name, "v1", labels=LABELS)
    plain = world.push(name, "v2")
    repository = world.repository(name)

    assert world.registry.labels(repository, image.digest) == ImageLabels(
        revision="4f1c2a9e0b7d6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
        source="https://github.com/acme/order-gateway",
        version="1.5.0-amd64",
        created="2026-12-01T10:00:00Z",
    )
    assert world.registry.labels(repository, plain.digest) == ImageLabels()
    with pytest.raises(ImageNotFound):
        world.registry.labels(repository, UNKNOWN)


def test_labels_of_a_multi_platform_image_are_the_linux_amd64_manifests(
    world: World, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    image = world.push(name, "v1", platforms=("arm64", "amd64"), labels=LABELS)
    labels = world.registry.labels(world.repository(name), image.digest)
    assert labels.version == "1.5.0-amd64"
    assert labels.revision == LABELS["org.opencontainers.image.revision"]


def test_labels_from_manifest_annotations(
    batch_world: World, request: pytest.FixtureRequest
) -> None:
    """Every registry, ECR included (whose config blobs moto does not serve), reads the
    manifest's annotations; the config's labels win where both say."""
    name = _name(request)
    annotations = {
        "org.opencontainers.image.version": "2.0.0",
        "org.opencontainers.image.source": "https://github.com/acme/billing",
    }
    image = batch_world.push(name, "v1", platforms=("amd64", "arm64"), annotations=annotations)
    labels = batch_world.registry.labels(batch_world.repository(name), image.digest)
    assert labels == ImageLabels(version="2.0.0", source="https://github.com/acme/billing")


# -- batched reads: each answer is the single call's ---------------------------------------------


def _same_error(batched: object, single: Callable[[], object]) -> None:
    """``batched`` is the error ``single()`` raises: same type, same message."""
    assert isinstance(batched, ReconcilerError), batched
    with pytest.raises(type(batched)) as raised:
        single()
    assert type(raised.value) is type(batched)
    assert str(raised.value) == str(batched)


def test_resolve_all_answers_each_tag_as_resolve_does(
    batch_world: World, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    one = batch_world.push(name, "v1")
    two = batch_world.push(name, "v2", platforms=("amd64", "arm64"))
    repository = batch_world.repository(name)
    registry = batch_world.registry

    answers = registry.resolve_all(repository, ["v2", "v1", "v9", "v1"])

    assert answers.keys() == {"v1", "v2", "v9"}  # a duplicate is asked once
    assert answers["v1"] == one.digest == registry.resolve(repository, "v1")
    assert answers["v2"] == two.digest == registry.resolve(repository, "v2")  # the index's
    assert isinstance(answers["v9"], ImageNotFound)
    _same_error(answers["v9"], lambda: registry.resolve(repository, "v9"))
    assert registry.resolve_all(repository, []) == {}


def test_resolve_all_of_tags_that_share_an_image(
    batch_world: World, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    one = batch_world.push(name, "v1")
    repository = batch_world.repository(name)
    registry = batch_world.registry
    assert registry.tag(repository, one.digest, "staging") is True
    assert registry.tag(repository, one.digest, "production") is True

    shared = ["v1", "staging", "production"]
    assert registry.resolve_all(repository, shared) == dict.fromkeys(shared, one.digest)

    # One unknown tag among them: ECR's describe_images fails whole, batch_get_image tells.
    answers = registry.resolve_all(repository, [*shared, "v9"])
    assert {tag: answers[tag] for tag in shared} == dict.fromkeys(shared, one.digest)
    _same_error(answers["v9"], lambda: registry.resolve(repository, "v9"))


def test_exists_all_answers_each_digest_as_exists_does(
    batch_world: World, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    one = batch_world.push(name, "v1")
    two = batch_world.push(name, "v2", platforms=("amd64", "arm64"))
    repository = batch_world.repository(name)
    registry = batch_world.registry

    asked = [one.digest, UNKNOWN, two.digest, one.digest]
    assert registry.exists_all(repository, asked) == {
        one.digest: True,
        two.digest: True,
        UNKNOWN: False,
    }
    nobody = batch_world.repository(f"{name}-nobody")
    assert registry.exists_all(nobody, [one.digest, UNKNOWN]) == {
        one.digest: False,
        UNKNOWN: False,
    }
    assert registry.exists_all(repository, []) == {}


def test_resolve_all_of_an_unknown_repository(
    batch_world: World, request: pytest.FixtureRequest
) -> None:
    repository = batch_world.repository(f"{_name(request)}-nobody")
    answers = batch_world.registry.resolve_all(repository, ["v1", "v2"])
    assert answers.keys() == {"v1", "v2"}
    for tag, answer in answers.items():
        assert isinstance(answer, ImageNotFound)
        assert "does not exist" in str(answer)
        _same_error(answer, functools.partial(batch_world.registry.resolve, repository, tag))


def test_batched_reads_answer_a_malformed_id_with_a_policy_error_of_its_own(
    batch_world: World, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    one = batch_world.push(name, "v1")
    repository = batch_world.repository(name)
    registry = batch_world.registry

    tags = registry.resolve_all(repository, ["v1", "-v1"])
    assert tags["v1"] == one.digest
    assert isinstance(tags["-v1"], PolicyError)
    assert "tag '-v1' is not valid" in str(tags["-v1"])

    digests = registry.exists_all(repository, [one.digest, "sha256:abc"])
    assert digests[one.digest] is True
    assert isinstance(digests["sha256:abc"], PolicyError)

    upper = registry.resolve_all(repository.upper(), ["v1"])
    assert isinstance(upper["v1"], PolicyError)
    assert "must be lower case" in str(upper["v1"])


def test_batched_reads_of_an_unreachable_registry_are_transient(batch_world: World) -> None:
    registry: ImageRegistry
    if isinstance(batch_world, FakeWorld):
        batch_world.registry.unreachable = True
        registry, repository = batch_world.registry, batch_world.repository("app")
    elif isinstance(batch_world, EcrWorld):
        registry = EcrRegistry(endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1)
        repository = batch_world.repository("app")
    else:
        registry, repository = batch_world.registry, f"127.0.0.1:{free_port()}/app"
    for answers in (
        registry.resolve_all(repository, ["v1", "v2"]),
        registry.exists_all(repository, [UNKNOWN]),
    ):
        assert answers
        assert all(isinstance(answer, TransientError) for answer in answers.values()), answers
