"""A `checks` gate on GitHub: staging -> prod waits for CI's check on the simulator, a red
one blocks with its link, and the promotion goes ahead once it is green.

The check is read on the commit that last changed the staging overlay in the config repo.
CI reports it both ways GitHub has: a commit status (any writer) and a check run (only a
GitHub App may create one); a check run and a status of one name must both pass. With
``commit = "source"`` the check is read on the candidate's revision in the app's own
repository, both from the image's labels in a real registry (Debian's docker-registry).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import github
import pytest
from github import Auth

from reconciler.overlays import kustomize
from tests.cli.test_validate import run
from tests.conftest import need
from tests.servers.docker_registry import DOCKER_REGISTRY, run_registry
from tests.servers.github_sim import GitHubSim, serve_github
from tests.servers.github_sim.gitstore import Person
from tests.servers.oci_images import SKOPEO, build, push, write_policy

APP = "shop"
IMAGE = "registry.example.com/team/shop"
OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
POLICY = f"""\
version = 1

[apps.{APP}]
image = "{IMAGE}"

[environments.staging]
overlay = "overlays/staging"

[environments.prod]
follows = "staging"
overlay = "overlays/prod"
auto_merge = true
gates = ["ci"]

[gates.ci]
kind = "checks"
checks = ["e2e"]
"""
LOG = "https://ci.example.com/runs/17"


def overlay(digest: str, image: str = IMAGE) -> bytes:
    base = f"resources: []\nimages:\n- name: shop\n  newName: {image}\n".encode()
    update = kustomize.parse_argument(f"{APP}={image}@{digest}")
    return kustomize.set_images(base, "kustomization.yaml", [update])


class CI:
    """CI reporting on the config repo: commit statuses as a user, check runs as an App."""

    def __init__(self, sim: GitHubSim) -> None:
        self.gh = github.Github(
            base_url=sim.url,
            auth=Auth.Token(sim.add_user("ci-bot")),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        sim.add_app(4242, "ci-app", "unused", permissions={"checks": "write"})
        self.app = github.Github(
            base_url=sim.url,
            auth=Auth.Token(sim.app_token(4242)),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )

    def status(
        self, sha: str, state: str, url: str = "", repo: str = "acme/config", name: str = "e2e"
    ) -> None:
        fields = {"state": state, "context": name, **({"target_url": url} if url else {})}
        self.gh.requester.requestJsonAndCheck("POST", f"/repos/{repo}/statuses/{sha}", input=fields)

    def check_run(self, sha: str, **fields: str) -> None:
        self.app.requester.requestJsonAndCheck(
            "POST",
            "/repos/acme/config/check-runs",
            input={"name": "e2e", "head_sha": sha, **fields},
        )


def test_prod_waits_for_the_named_check_blocks_on_red_and_goes_on_green(tmp_path: Path) -> None:
    with serve_github(tmp_path / "config.git") as sim:
        token = sim.add_user("reconciler-bot", permission="admin")
        files = {
            "promotions.toml": POLICY.encode(),
            "overlays/staging/kustomization.yaml": overlay(NEW),
            "overlays/prod/kustomization.yaml": overlay(OLD),
        }
        staged = sim.commit("main", files, "staging: new shop\n")
        (tmp_path / "token").write_text(token + "\n")
        options = [
            "--forge", "github",
            "--github-repo", "acme/config",
            "--github-url", sim.url,
            "--github-token-file", str(tmp_path / "token"),
            "--repo", str(sim.git_path),
            "--cache-dir", str(tmp_path / "cache"),
        ]  # fmt: skip
        ci = CI(sim)

        waiting = run("once", *options)
        assert waiting.returncode == 0, waiting.stderr
        assert f"waiting for e2e (not reported yet) on {staged[:12]}" in waiting.stdout
        assert not sim.world.pulls, "promoted before the check ran"

        ci.check_run(staged, status="in_progress")
        running = run("once", *options)
        assert "waiting for e2e (in_progress)" in running.stdout, running.stdout

        ci.check_run(staged, conclusion="success", details_url=LOG)
        ci.status(staged, "failure", LOG + "/status")
        red = run("once", *options)
        assert red.returncode == 0, red.stderr
        assert f"check e2e failure ({LOG}/status) on {staged[:12]}" in red.stdout, red.stdout
        assert "gate:checks-failed" in red.stdout, red.stdout
        assert not sim.world.pulls, "promoted past a red check"

        ci.status(staged, "success", LOG + "/status")
        green = run("once", *options)
        assert green.returncode == 0, green.stderr
        assert "opened #1 prod: promote shop" in green.stdout, green.stdout
        assert "e2e green on" in (sim.pull(1).body or "")
        merged = run("once", *options)
        assert "merged #1" in merged.stdout, merged.stdout + merged.stderr
        assert NEW.encode() in (
            sim.read(sim.tip("main") or "", "overlays/prod/kustomization.yaml") or b""
        )


def test_a_source_gate_reads_the_revision_from_the_labels_in_the_app_repository(
    tmp_path: Path,
) -> None:
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    with (
        run_registry(tmp_path / "registry") as registry,
        serve_github(tmp_path / "config.git") as sim,
    ):
        source = sim.add_source("acme/shop", tmp_path / "shop.git")
        who = Person("Alice", "alice@example.com", datetime(2026, 12, 1, tzinfo=UTC))
        revision = source.commit("main", {"README": b"1.5.0"}, "Release 1.5.0", who)
        url = f"{sim.url}/acme/shop"
        image = f"{registry.host}/team/shop"
        labels = {
            "org.opencontainers.image.revision": revision,
            "org.opencontainers.image.source": url,
        }
        built = build(tmp_path / "image", "team/shop", "1.5.0", labels=labels)
        push(built, f"{image}:1.5.0", write_policy(tmp_path / "policy.json"))
        policy = (
            POLICY.replace(f'image = "{IMAGE}"', f'image = "{image}"')
            .replace('checks = ["e2e"]', 'commit = "source"\nchecks = ["build"]')
            .replace(
                "version = 1\n", 'version = 1\n\n[registry]\nkind = "oci"\nplain_http = true\n'
            )
        )
        files = {
            "promotions.toml": policy.encode(),
            "overlays/staging/kustomization.yaml": overlay(built.digest, image),
            "overlays/prod/kustomization.yaml": overlay(OLD, image),
        }
        sim.commit("main", files, "staging: shop 1.5.0\n")
        token = sim.add_user("reconciler-bot", permission="admin")
        (tmp_path / "token").write_text(token + "\n")
        options = [
            "--forge", "github",
            "--github-repo", "acme/config",
            "--github-url", sim.url,
            "--github-token-file", str(tmp_path / "token"),
            "--repo", str(sim.git_path),
            "--cache-dir", str(tmp_path / "cache"),
        ]  # fmt: skip
        ci = CI(sim)
        at = f"{revision[:12]} of {url}"

        waiting = run("once", *options)
        assert waiting.returncode == 0, waiting.stderr
        assert f"waiting for build (not reported yet) on {at}" in waiting.stdout, waiting.stdout
        ci.status(revision, "failure", LOG, repo="acme/shop", name="build")
        red = run("once", *options)
        assert f"check build failure ({LOG}) on {at}" in red.stdout, red.stdout
        ci.status(revision, "success", LOG, repo="acme/shop", name="build")
        green = run("once", *options)
        assert "opened #1 prod: promote shop" in green.stdout, green.stdout + green.stderr
        assert sim.counts["GET /repos/{owner}/{repo}/commits/{ref}/status"] == 3


def test_only_a_github_app_with_the_checks_permission_creates_check_runs(tmp_path: Path) -> None:
    with serve_github(tmp_path / "config.git") as sim:
        sha = sim.commit("main", {"README": b"x"}, "first\n")
        sim.add_app(7, "no-checks", "unused", permissions={"statuses": "write"})
        run = {"name": "e2e", "head_sha": sha, "status": "in_progress"}
        for token, refused in (
            (
                sim.add_user("someone", permission="admin"),
                "You must authenticate via a GitHub App.",
            ),
            (sim.app_token(7), "Resource not accessible by integration"),
        ):
            gh = github.Github(base_url=sim.url, auth=Auth.Token(token))
            with pytest.raises(github.GithubException) as answer:
                gh.requester.requestJsonAndCheck("POST", "/repos/acme/config/check-runs", input=run)
            assert (answer.value.status, answer.value.data["message"]) == (403, refused)
        assert sim.world.check_runs == {}
        sim.add_app(8, "ci", "unused", permissions={"checks": "write"})
        app = github.Github(base_url=sim.url, auth=Auth.Token(sim.app_token(8)))
        bad = {"name": "e2e", "head_sha": sha, "status": "completed"}
        with pytest.raises(github.GithubException) as refusal:  # completed needs a conclusion
            app.requester.requestJsonAndCheck("POST", "/repos/acme/config/check-runs", input=bad)
        assert refusal.value.status == 422
        _, made = app.requester.requestJsonAndCheck(
            "POST", "/repos/acme/config/check-runs", input={**run, "conclusion": "neutral"}
        )
        assert (made["status"], made["conclusion"], made["app"]["slug"]) == (
            "completed",
            "neutral",
            "ci",
        )
