"""`reconciler registry resolve|tag` against Debian's docker-registry, images pushed by skopeo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

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


def test_tag_dry_run_says_where_the_tag_points_and_moves_nothing(
    registry: tuple[RunningRegistry, Path],
) -> None:
    running, folder = registry
    policy = write_policy(folder / "policy.json")
    one = build(folder / "one", "team/dry", "v1")
    two = build(folder / "two", "team/dry", "v2", platforms=("arm64",))  # another digest
    name = f"{running.host}/team/dry"
    push(one, f"{name}:v1", policy)
    push(two, f"{name}:v2", policy)
    run("registry", "tag", "--plain-http", f"{name}@{one.digest}", "staging")

    new = run("registry", "tag", "--dry-run", "--plain-http", f"{name}@{one.digest}", "prod")
    assert (new.returncode, new.stdout) == (
        0,
        f"{name}:prod would move to {one.digest} (a new tag) (dry run: nothing written)\n",
    )
    moving = run("registry", "tag", "--dry-run", "--plain-http", f"{name}@{two.digest}", "staging")
    assert moving.stdout == (
        f"{name}:staging would move to {two.digest} from {one.digest} (dry run: nothing written)\n"
    )
    same = run(
        "registry",
        "tag",
        "--dry-run",
        "--plain-http",
        "-o",
        "json",
        f"{name}@{one.digest}",
        "staging",
    )
    assert json.loads(same.stdout) == {
        "repository": name,
        "tag": "staging",
        "digest": one.digest,
        "moved": False,
        "dry_run": True,
        "before": one.digest,
    }
    unknown = "sha256:" + "0" * 64
    absent = run("registry", "tag", "--dry-run", "--plain-http", f"{name}@{unknown}", "prod")
    assert absent.returncode == 1
    assert f"{name}@{unknown} is not in the registry; nothing to tag" in absent.stderr
    # Nothing moved: prod does not exist, staging still names the first image.
    resolved = run("registry", "resolve", "--plain-http", "-o", "yaml", f"{name}:staging")
    assert yaml.safe_load(resolved.stdout) == {
        "repository": name,
        "tag": "staging",
        "digest": one.digest,
    }
    assert run("registry", "resolve", "--plain-http", f"{name}:prod").returncode == 1
