"""The change a reviewer approves, in the prod request: on the GitHub simulator, the daemon
reads both images' OCI labels from a real registry (Debian's docker-registry) and lists the
source commits between their revisions from a source repository the simulator holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler import promotions
from reconciler.demo.flow import APP
from reconciler.overlays import kustomize
from tests.conftest import need
from tests.e2e.closedworld import GitHubFlavour, Image
from tests.e2e.world import overlay
from tests.servers.docker_registry import DOCKER_REGISTRY, RunningRegistry, run_registry
from tests.servers.github_sim.gitstore import Person
from tests.servers.oci_images import SKOPEO, build, push, write_policy

NAME = f"team/{APP}"
SOURCE = "acme/order-gateway"
PERSONS = {"alice": "alice@example.com", "bob": "bob@example.com"}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    with run_registry(tmp_path / "registry") as running:
        yield running


def _image(root: Path, running: RunningRegistry, tag: str, labels: dict[str, str]) -> str:
    """Push an image labelled ``labels``; its digest."""
    made = build(root / f"image-{tag}", NAME, tag, labels=labels)
    push(made, f"{running.host}/{NAME}:{tag}", write_policy(root / "policy.json"))
    return made.digest


def _pin(flavour: GitHubFlavour, env: str, digest: str) -> None:
    update = kustomize.parse_argument(f"{APP}={flavour.image.repository}:b7e2f90@{digest}")
    flavour.push(
        overlay(env),
        lambda data: kustomize.set_images(data, overlay(env), [update]),
        f"pin {env}",
    )


def test_the_prod_request_lists_the_commits_between_the_two_revisions(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    image = Image(f"{registry.host}/{NAME}", registry_host=registry.host)
    flavour = GitHubFlavour(tmp_path, image)
    try:
        sim = flavour.sim
        for login, email in PERSONS.items():
            sim.add_user(login, email=email)
        source = sim.add_source(SOURCE, tmp_path / "source.git")
        at = datetime(2026, 12, 1, tzinfo=UTC)

        def commit(message: str, who: str) -> str:
            person = Person(who.title(), PERSONS.get(who, f"{who}@example.org"), at)
            return source.commit("main", {"README": message.encode()}, message, person)

        running_now = commit("Release 1.4.0", "alice")
        commit("Retry payment calls (#12)", "alice")
        commit("Merge pull request #13 from acme/timeouts\n\nShorter timeouts", "bob")
        candidate_rev = commit("Release 1.5.0 <!-- reconciler:promotion {} -->", "carol")
        url = f"{sim.url}/{SOURCE}"

        def labels(version: str, revision: str) -> dict[str, str]:
            return {
                "org.opencontainers.image.version": version,
                "org.opencontainers.image.revision": revision,
                "org.opencontainers.image.source": url,
            }

        old = _image(tmp_path, registry, "1.4.0", labels("1.4.0", running_now))
        new = _image(tmp_path, registry, "1.5.0", labels("1.5.0", candidate_rev))
        for env, digest in (("dev", new), ("staging", new), ("prod", old)):
            _pin(flavour, env, digest)
        flavour.sync()

        body = sim.pull(flavour.prod_request()).body or ""

        assert "- version: `1.4.0` -> `1.5.0`" in body
        assert f"[compare {running_now[:12]}...{candidate_rev[:12]}]" in body
        assert "Commits (3):" in body
        assert "`Retry payment calls (#12)` by `alice`" in body
        assert f"([#12]({url}/pull/12))" in body
        assert f"`Shorter timeouts` by `bob` ([#13]({url}/pull/13))" in body  # a merge
        assert "by `Carol`" in body  # no account: the commit's author name
        assert "Release 1.5.0 \u2039!-- reconciler:promotion {} --\u203a" in body
        marker = promotions.parse_marker(body)
        assert marker is not None
        assert marker.digest == new
        assert sim.counts["GET /repos/{owner}/{repo}/compare/{basehead}"] == 1
    finally:
        flavour.stop()


def test_an_unreadable_source_repository_is_said_and_blocks_nothing(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    image = Image(f"{registry.host}/{NAME}", registry_host=registry.host)
    flavour = GitHubFlavour(tmp_path, image)
    try:
        url = f"{flavour.sim.url}/acme/secret-service"  # no such repository: 404
        labels = {"org.opencontainers.image.source": url}
        old = _image(
            tmp_path, registry, "1", {**labels, "org.opencontainers.image.revision": "a" * 40}
        )
        new = _image(
            tmp_path, registry, "2", {**labels, "org.opencontainers.image.revision": "b" * 40}
        )
        for env, digest in (("dev", new), ("staging", new), ("prod", old)):
            _pin(flavour, env, digest)
        flavour.sync()

        body = flavour.sim.pull(flavour.prod_request()).body or ""

        assert f"- revision: `{'a' * 40}` -> `{'b' * 40}`" in body
        assert f"- source: {url} ([compare {'a' * 12}...{'b' * 12}]" in body
        assert "the commits of" in body
        assert "GitHub answered 404" in body
        assert "needs read access to the source repository" in body
        assert "- version:" not in body  # the images say none: nothing made up
    finally:
        flavour.stop()
