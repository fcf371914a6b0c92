"""Conditional tag reads against Debian's docker-registry, counted by a proxy in front of it:
an idle cycle sends one HEAD per environment tag (answered 304) and no GET."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import Registry
from reconciler.registry import ImageNotFound, open_registry
from reconciler.registry.oci import OciRegistry
from tests.conftest import need
from tests.servers.docker_registry import DOCKER_REGISTRY, RunningRegistry, run_registry
from tests.servers.fault_proxy import RunningProxy, serve_proxy
from tests.servers.oci_images import SKOPEO, Image, build, push, write_policy


@dataclass(frozen=True)
class Env:
    folder: Path
    registry: RunningRegistry
    proxy: RunningProxy
    policy: Path

    def push(self, name: str, tag: str, content: str) -> Image:
        # The image's bytes come from its name: one name per content, one digest each.
        image = build(self.folder / f"{name.replace('/', '-')}-{content}", f"{name} {content}", tag)
        push(image, f"{self.registry.host}/{name}:{tag}", self.policy)
        return image

    def served(self) -> list[tuple[str, int]]:
        """(method, status) of the requests the proxy passed since the last call."""
        with self.proxy.faults.lock:
            seen = [(method, status) for method, _, status in self.proxy.faults.served]
            self.proxy.faults.served.clear()
        return seen


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    with (
        run_registry(tmp_path / "registry") as running,
        serve_proxy(running.port) as proxy,
    ):
        yield Env(tmp_path, running, proxy, write_policy(tmp_path / "policy.json"))


@pytest.fixture
def registry() -> Iterator[OciRegistry]:
    with HttpClient(trust_env=False) as http:
        adapter = open_registry(Registry(kind="oci", plain_http=True), http=http)
        assert isinstance(adapter, OciRegistry)
        yield adapter


def _cycle(registry: OciRegistry, repository: str, tags: tuple[str, ...]) -> list[str]:
    registry.new_cycle()
    return [registry.resolve(repository, tag) for tag in tags]


def test_an_idle_cycle_sends_one_conditional_head_per_tag(env: Env, registry: OciRegistry) -> None:
    staging = env.push("shop/cart", "staging", "v1")
    production = env.push("shop/cart", "production", "v0")
    repository = f"{env.proxy.host}/shop/cart"
    tags = ("staging", "production")
    env.served()

    assert _cycle(registry, repository, tags) == [staging.digest, production.digest]
    assert env.served() == [("HEAD", 200), ("GET", 200)] * 2

    for _ in range(3):
        assert _cycle(registry, repository, tags) == [staging.digest, production.digest]
        assert env.served() == [("HEAD", 304)] * 2


def test_a_moved_tag_is_seen_the_next_cycle(env: Env, registry: OciRegistry) -> None:
    first = env.push("shop/pay", "staging", "v1")
    repository = f"{env.proxy.host}/shop/pay"
    assert _cycle(registry, repository, ("staging",)) == [first.digest]

    second = env.push("shop/pay", "staging", "v2")  # moved behind the daemon's back
    env.served()
    assert _cycle(registry, repository, ("staging",)) == [second.digest]
    assert env.served() == [("HEAD", 200), ("GET", 200)]
    assert _cycle(registry, repository, ("staging",)) == [second.digest]
    assert env.served() == [("HEAD", 304)]


def test_a_deleted_tag_is_not_served_from_memory(env: Env, registry: OciRegistry) -> None:
    image = env.push("shop/gone", "staging", "v1")
    repository = f"{env.proxy.host}/shop/gone"
    assert _cycle(registry, repository, ("staging",)) == [image.digest]
    env.push("shop/gone", "x", "other")  # the repository stays when the tag goes
    registry.new_cycle()
    # The manifest the tag named is deleted (distribution deletes by digest, with its tags).
    with HttpClient(trust_env=False) as http:
        url = f"http://{env.registry.host}/v2/shop/gone/manifests/{image.digest}"
        assert http.request("DELETE", url).status == 202
    with pytest.raises(ImageNotFound, match="has no tag"):
        registry.resolve(repository, "staging")
    assert registry.known.get((f"http://{env.proxy.host}", "shop/gone", "staging")) is None


def test_a_tag_moved_by_the_daemon_needs_no_etag_to_skip_the_get(
    env: Env, registry: OciRegistry
) -> None:
    v1 = env.push("shop/api", "staging", "v1")
    v2 = env.push("shop/api", "candidate", "v2")
    repository = f"{env.proxy.host}/shop/api"
    assert registry.tag(repository, v1.digest, "production") is True
    assert registry.tag(repository, v2.digest, "production") is True
    env.served()
    # What tag() put is remembered without an ETag: the HEAD is unconditional, and its
    # digest, the one just proven, spares the GET.
    assert _cycle(registry, repository, ("production",)) == [v2.digest]
    assert env.served() == [("HEAD", 200)]
    assert _cycle(registry, repository, ("production",)) == [v2.digest]
    assert env.served() == [("HEAD", 304)]
