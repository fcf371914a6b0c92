"""A whole cycle with a real registry: CI pins dev by tag only, the daemon resolves it, promotes
the digest (never the tag) to staging, and moves staging's registry tag once staging runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.clock import utc_now
from reconciler.demo.flow import APP, seed_files
from reconciler.demo.services import SampleServices
from reconciler.gitrepo.port import ReadView
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from reconciler.overlays import kustomize, pins
from reconciler.policy.model import App
from reconciler.registry import ImageNotFound, open_registry
from reconciler.settings import Settings
from reconciler.wiring import build
from tests.conftest import need
from tests.e2e.world import FAST, cycle_until, overlay, person
from tests.servers.docker_registry import DOCKER_REGISTRY, RunningRegistry, run_registry
from tests.servers.oci_images import SKOPEO, push, skopeo, write_policy
from tests.servers.oci_images import build as build_image


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    with run_registry(tmp_path / "registry") as running:
        yield running


def test_tag_only_dev_pin_is_promoted_as_a_digest_and_the_env_tag_follows(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    image = f"{registry.host}/team/{APP}"
    policy_file = write_policy(tmp_path / "policy.json")
    pushed = build_image(tmp_path / "image", f"team/{APP}", "b7e2f90", ("amd64", "arm64"))
    push(pushed, f"{image}:b7e2f90", policy_file)
    adapter = open_registry("oci", plain_http=True)

    services = SampleServices(utc_now).start()
    try:
        files = seed_files(services.base_url, FAST)
        policy = files["promotions.toml"].decode()
        policy = policy.replace(
            "[apps.order-gateway]",
            '[registry]\nkind = "oci"\nplain_http = true\n\n[apps.order-gateway]',
        ).replace(
            'image = "418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway"',
            f'image = "{image}"',
        )
        policy = policy.replace(
            "auto_merge = true\n", 'auto_merge = true\nregistry_tag = "staging"\n', 1
        )
        files["promotions.toml"] = policy.encode()
        remote = tmp_path / "config.git"
        create_repository(remote, files, branch="main", message="seed", author=person("platform"))
        app = App(name=APP, image=image, kustomize_image=APP)
        argo = Pygit2ConfigRepo.open(str(remote), tmp_path / "argo")

        def sync() -> None:
            """Deploy what each overlay pins; a tag is pulled as the digest it points to."""
            argo.fetch()
            tip = argo.tip("main")
            assert tip is not None
            view = argo.tree(tip)
            for env in ("dev", "staging", "prod"):
                data = view.read(overlay(env))
                pin = pins.read_pin("kustomize", data, overlay(env), app) if data else None
                digest = pin.digest if pin and pin.digest else None
                if pin and not digest and pin.tag:
                    digest = adapter.resolve(image, pin.tag)
                services.deploy(env, APP, digest)

        ci = Pygit2ConfigRepo.open(str(remote), tmp_path / "ci")

        def tag_only(view: ReadView) -> dict[str, bytes | None]:
            data = view.read(overlay("dev"))
            assert data is not None
            update = kustomize.parse_argument(f"{APP}={image}:b7e2f90")  # CI pins a tag only
            return {overlay("dev"): kustomize.set_images(data, overlay("dev"), [update])}

        who = person("ci-bot")
        ci.update_branch("main", tag_only, message="dev: b7e2f90", author=who, committer=who)
        sync()
        daemon = build(Settings(repo=str(remote), cache_dir=tmp_path / "daemon"), utc_now)

        def step() -> str | None:
            daemon.runner.cycle()
            sync()
            try:
                return adapter.resolve(image, "staging")
            except ImageNotFound:  # the tag does not exist until it is moved
                return None

        cycle_until(step, lambda tagged: tagged == pushed.digest, "staging tag moved")
    finally:
        services.stop()

    argo.fetch()
    tip = argo.tip("main")
    assert tip is not None
    staging = pins.read_pin("kustomize", argo.tree(tip).read(overlay("staging")) or b"", "", app)
    assert staging is not None
    assert (staging.digest, staging.tag) == (pushed.digest, "")  # the digest, never the tag
    seen = skopeo(
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        f"docker://{image}:staging",
        policy=policy_file,
    )
    assert seen.strip() == pushed.digest
