"""`reconciler registry resolve|tag` against Debian's docker-registry, images pushed by skopeo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_validate import run
from tests.conftest import need
from tests.servers.docker_registry import DOCKER_REGISTRY, RunningRegistry, run_registry
from tests.servers.oci_images import SKOPEO, build, push, skopeo, write_policy


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningRegistry, Path]]:
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    folder = tmp_path_factory.mktemp("cli-registry")
    with run_registry(folder / "registry") as running:
        yield running, folder


def test_resolve_then_tag_moves_the_env_tag_without_a_rebuild(
    registry: tuple[RunningRegistry, Path],
) -> None:
    running, folder = registry
    policy = write_policy(folder / "policy.json")
    image = build(folder / "gw", "team/gw", "a3f8c12", platforms=("amd64", "arm64"))
    push(image, f"{running.host}/team/gw:a3f8c12", policy)
    name = f"{running.host}/team/gw"

    resolved = run("registry", "resolve", "--plain-http", f"{name}:a3f8c12")
    assert (resolved.returncode, resolved.stdout) == (0, image.digest + "\n")

    moved = run("registry", "tag", "--plain-http", f"{name}@{image.digest}", "production")
    assert (moved.returncode, moved.stdout) == (0, f"{name}:production moved to {image.digest}\n")
    again = run("registry", "tag", "--plain-http", f"{name}@{image.digest}", "production")
    assert again.stdout == f"{name}:production already at {image.digest}\n"
    seen = skopeo(
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        f"docker://{name}:production",
        policy=policy,
    )
    assert seen.strip() == image.digest  # the index digest: every platform pulls the same


def test_errors_are_clear_and_exit_non_zero(registry: tuple[RunningRegistry, Path]) -> None:
    running, _ = registry
    missing = run("registry", "resolve", "--plain-http", f"{running.host}/team/none:v1")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    malformed = run("registry", "resolve", "--plain-http", "UPPER/Case::bad")
    assert malformed.returncode == 1
    assert "Traceback" not in malformed.stderr
    no_tag = run("registry", "tag", "--plain-http", f"{running.host}/team/gw:v1", "prod")
    assert (no_tag.returncode, "give IMAGE@sha256:..." in no_tag.stderr) == (2, True)
