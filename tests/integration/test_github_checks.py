"""A `checks` gate on GitHub: staging -> prod waits for CI's check on the simulator, a red
one blocks with its link, and the promotion goes ahead once it is green.

The check is read on the commit that last changed the staging overlay in the config repo.
CI reports it both ways GitHub has: a commit status (any writer) and a check run (only a
GitHub App may create one); a check run and a status of one name must both pass.
"""

from __future__ import annotations

from pathlib import Path

import github
from github import Auth

from reconciler.overlays import kustomize
from tests.cli.test_validate import run
from tests.servers.github_sim import GitHubSim, serve_github

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


def overlay(digest: str) -> bytes:
    base = b"resources: []\nimages:\n- name: shop\n  newName: registry.example.com/team/shop\n"
    update = kustomize.parse_argument(f"{APP}={IMAGE}@{digest}")
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

    def status(self, sha: str, state: str, url: str = "") -> None:
        fields = {"state": state, "context": "e2e", **({"target_url": url} if url else {})}
        self.gh.requester.requestJsonAndCheck(
            "POST", f"/repos/acme/config/statuses/{sha}", input=fields
        )

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
