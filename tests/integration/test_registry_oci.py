"""The OCI adapter against Debian's docker-registry on loopback, images pushed with skopeo.

What the contract tests (tests/contract/test_registry_contract.py) cover is not repeated
here: this file checks what only a real registry shows: skopeo reading back the exact
bytes of a moved tag, the registry's own tag-list pages, the whole token flow against the
registry's token authentication, request budgets and unreachable registries.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reconciler.errors import PermanentError, TransientError
from reconciler.httpclient.client import HttpClient
from reconciler.policy.model import Registry
from reconciler.registry import ImageRegistry, open_registry
from reconciler.registry.oci import OciRegistry
from tests.conftest import need
from tests.ports import free_port
from tests.servers.docker_registry import DOCKER_REGISTRY, RunningRegistry, TokenAuth, run_registry
from tests.servers.endpoints import Endpoints, serve
from tests.servers.fault_proxy import serve_proxy
from tests.servers.oci_images import SKOPEO, Image, build, push, skopeo, write_policy

if TYPE_CHECKING:  # imported at run time once the fixture knows cryptography is there
    from tests.servers.registry_auth import TokenService

USER, PASSWORD = "ci-bot", "pa55-Word-that-must-not-leak"


@dataclass(frozen=True)
class Env:
    folder: Path
    registry: RunningRegistry
    policy: Path

    def push(
        self, name: str, tag: str, platforms: tuple[str, ...] = (), creds: str | None = None
    ) -> Image:
        image = build(self.folder / f"{name.replace('/', '-')}-{tag}", name, tag, platforms)
        push(image, f"{self.registry.host}/{name}:{tag}", self.policy, creds=creds)
        return image


def _need_tools() -> None:
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    _need_tools()
    folder = tmp_path_factory.mktemp("oci")
    with run_registry(folder / "registry") as running:
        yield Env(folder, running, write_policy(folder / "policy.json"))


def _adapter(**options: object) -> OciRegistry:
    return OciRegistry(HttpClient(trust_env=False), plain_http=True, **options)  # type: ignore[arg-type]


def test_a_moved_index_is_the_same_bytes_for_skopeo(env: Env) -> None:
    image = env.push("shop/cart", "1.0.0", platforms=("amd64", "arm64"))
    repository = f"{env.registry.host}/shop/cart"
    registry = _adapter()

    assert registry.resolve(repository, "1.0.0") == image.digest
    assert registry.tag(repository, image.digest, "production") is True

    raw = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        f"docker://{repository}:production",
        policy=env.policy,
    )
    assert raw.encode() == image.manifest  # no re-serialisation: the same artifact
    digest = skopeo(
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        f"docker://{repository}:production",
        policy=env.policy,
    )
    assert digest.strip() == image.digest


def test_tag_list_pages(env: Env) -> None:
    image = env.push("shop/pages", "t0")
    repository = f"{env.registry.host}/shop/pages"
    registry = _adapter(page_size=2)
    for tag in ("t1", "t2", "t3", "t4"):
        registry.tag(repository, image.digest, tag)
    assert registry.tags(repository) == ("t0", "t1", "t2", "t3", "t4")


def test_the_request_budget_holds_until_the_next_cycle(env: Env) -> None:
    image = env.push("shop/budget", "v1")
    repository = f"{env.registry.host}/shop/budget"
    registry = _adapter(budget=3)
    assert registry.exists(repository, image.digest)  # one GET
    assert registry.resolve(repository, "v1") == image.digest  # a HEAD and a GET
    with pytest.raises(TransientError, match=r"request budget of 3 per cycle spent, next cycle"):
        registry.tag(repository, image.digest, "staging")
    registry.new_cycle()
    assert registry.tag(repository, image.digest, "staging") is True


def test_the_factory_follows_the_policys_registry(env: Env) -> None:
    image = env.push("shop/factory", "v1")
    registry = open_registry(
        Registry(kind="oci", plain_http=True), http=HttpClient(trust_env=False)
    )
    assert registry.resolve(f"{env.registry.host}/shop/factory", "v1") == image.digest
    # Without plain_http the adapter speaks TLS, which this registry does not.
    tls = open_registry(Registry(kind="oci"), http=HttpClient(trust_env=False))
    with pytest.raises(TransientError, match=f"registry {env.registry.host}"):
        tls.resolve(f"{env.registry.host}/shop/factory", "v1")


def test_an_unreachable_registry_is_transient_and_named() -> None:
    host = f"127.0.0.1:{free_port()}"
    registry = _adapter()
    with pytest.raises(TransientError) as caught:
        registry.exists(f"{host}/app", "sha256:" + "1" * 64)
    assert f"registry {host} is unreachable" in str(caught.value)


# -- token authentication ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthEnv:
    env: Env
    tokens: Endpoints
    service: TokenService


@pytest.fixture(scope="module")
def auth_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    _need_tools()
    need(importlib.util.find_spec("cryptography") is not None, "the cryptography package")
    from tests.servers.registry_auth import Signer, TokenService

    folder = tmp_path_factory.mktemp("oci-auth")
    signer = Signer.create(folder / "tokens.pem")
    service = TokenService(signer, "reconciler-tests", "reconciler-tests-issuer", {USER: PASSWORD})
    with serve() as tokens:
        tokens.routes["/token"] = service.route()
        auth = TokenAuth(tokens.url("/token"), service.service, service.issuer, signer.path)
        with run_registry(folder / "registry", auth=auth) as running:
            yield AuthEnv(
                Env(folder, running, write_policy(folder / "policy.json")), tokens, service
            )


def _docker_config(folder: Path, host: str, password: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    entry = base64.b64encode(f"{USER}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": entry}}}))
    return folder


def test_token_auth_with_credentials_from_docker_config(auth_env: AuthEnv, tmp_path: Path) -> None:
    env = auth_env.env
    image = env.push("secure/app", "v1", creds=f"{USER}:{PASSWORD}")
    repository = f"{env.registry.host}/secure/app"
    config = _docker_config(tmp_path / "docker", env.registry.host, PASSWORD)
    registry = open_registry(
        "oci",
        plain_http=True,
        environ={"DOCKER_CONFIG": str(config)},
        http=HttpClient(trust_env=False),
    )
    before = len(auth_env.service.asked)

    assert registry.resolve(repository, "v1") == image.digest
    assert registry.exists(repository, image.digest)
    assert registry.tag(repository, image.digest, "staging") is True
    assert registry.tag(repository, image.digest, "staging") is False
    assert registry.tags(repository) == ("staging", "v1")

    # One token per scope, reused across calls: pull, then pull+push.
    assert auth_env.service.asked[before:] == [
        (USER, ("repository:secure/app:pull",)),
        (USER, ("repository:secure/app:pull,push",)),
    ]
    digest = skopeo(
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"{USER}:{PASSWORD}",
        "--format",
        "{{.Digest}}",
        f"docker://{repository}:staging",
        policy=env.policy,
    )
    assert digest.strip() == image.digest


def test_wrong_credentials_are_refused_without_showing_them(
    auth_env: AuthEnv, tmp_path: Path
) -> None:
    env = auth_env.env
    config = _docker_config(tmp_path / "docker", env.registry.host, "not-the-password")
    registry = open_registry(
        "oci",
        plain_http=True,
        environ={"DOCKER_CONFIG": str(config)},
        http=HttpClient(trust_env=False),
    )
    with pytest.raises(PermanentError) as caught:
        registry.resolve(f"{env.registry.host}/secure/app", "v1")
    message = str(caught.value)
    assert "refused the credentials" in message
    assert str(config / "config.json") in message
    assert "not-the-password" not in message


def test_no_credentials_says_how_to_add_them(auth_env: AuthEnv, tmp_path: Path) -> None:
    env = auth_env.env
    registry: ImageRegistry = open_registry(
        "oci", plain_http=True, environ={"HOME": str(tmp_path)}, http=HttpClient(trust_env=False)
    )
    with pytest.raises(PermanentError, match=rf"run `docker login {env.registry.host}`"):
        registry.resolve(f"{env.registry.host}/secure/app", "v1")


def test_the_policys_timeout_bounds_each_request(env: Env) -> None:
    image = env.push("shop/slow", "v1")
    with serve_proxy(env.registry.port) as proxy:
        # The registry answers, but only after 3s: past the policy's timeout of 0.5s.
        proxy.faults.timeouts, proxy.faults.timeout_delay = 1, 3.0
        registry = open_registry(
            Registry(kind="oci", plain_http=True, timeout=timedelta(milliseconds=500)),
            http=HttpClient(trust_env=False),
        )
        with pytest.raises(TransientError, match=f"registry {proxy.host}"):
            registry.resolve(f"{proxy.host}/shop/slow", "v1")
        assert registry.resolve(f"{proxy.host}/shop/slow", "v1") == image.digest
