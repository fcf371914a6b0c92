"""The fake registry and the OCI adapter (against Debian's docker-registry) keep one contract.

Each world pushes the same small OCI images (built on disk by the test) and reads tags
back by its own means, not through the port: ``skopeo inspect`` for the real registry,
the fake's own tables for the fake.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

from reconciler.errors import PolicyError, TransientError
from reconciler.httpclient.client import HttpClient
from reconciler.registry import ImageNotFound, ImageRegistry
from reconciler.registry.oci import OciRegistry
from tests.conftest import need
from tests.fakes.registry import FakeRegistry
from tests.servers.docker_registry import DOCKER_REGISTRY, RunningRegistry, run_registry
from tests.servers.endpoints import free_port
from tests.servers.oci_images import SKOPEO, Image, build, push, skopeo, write_policy

UNKNOWN = "sha256:" + "0" * 64


class World(Protocol):
    @property
    def registry(self) -> ImageRegistry: ...

    def repository(self, name: str) -> str: ...

    def push(self, name: str, tag: str, platforms: tuple[str, ...] = ()) -> Image: ...

    def read(self, name: str, tag: str) -> str | None: ...

    def delete(self, name: str, tag: str) -> None: ...


_names = itertools.count()


@dataclass
class FakeWorld:
    folder: Path
    registry: FakeRegistry = field(default_factory=FakeRegistry)

    def repository(self, name: str) -> str:
        return f"fake.example:5000/{name}"

    def push(self, name: str, tag: str, platforms: tuple[str, ...] = ()) -> Image:
        image = build(self.folder / f"image-{next(_names)}", name, tag, platforms)
        self.registry.push(self.repository(name), tag, image.manifest, image.media_type)
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

    def push(self, name: str, tag: str, platforms: tuple[str, ...] = ()) -> Image:
        image = build(self.folder / f"image-{next(_names)}", name, tag, platforms)
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


@pytest.fixture(scope="module")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    with run_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


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
