"""`reconciler once --forge github` against the GitHub simulator: a real pull request opened,
then merged by the next run, and the API requests counted in the metrics."""

from __future__ import annotations

from pathlib import Path

from reconciler.demo.flow import APP, IMAGE, seed_files
from reconciler.demo.flow import QUICK as TIMING
from reconciler.overlays import kustomize
from reconciler.settings import Settings
from reconciler.wiring import build
from tests.cli.test_validate import run
from tests.servers.github_sim import serve_github

NEW = "sha256:" + "7" * 64
POLICY = f"""\
version = 1

[apps.{APP}]
image = "{IMAGE}"

[environments.dev]
overlay = "overlays/dev"

[environments.staging]
follows = "dev"
overlay = "overlays/staging"
auto_merge = true
"""


def seeded() -> dict[str, bytes]:
    """The demo's repo without prod, with dev already pinning a new digest."""
    files = {
        k: v
        for k, v in seed_files("http://127.0.0.1:9", TIMING).items()
        if not k.startswith("overlays/prod")
    }
    files["promotions.toml"] = POLICY.encode()
    update = kustomize.parse_argument(f"{APP}={IMAGE}@{NEW}")
    dev = "overlays/dev/kustomization.yaml"
    files[dev] = kustomize.set_images(files[dev], dev, [update])
    return files


def test_once_opens_then_merges_a_pull_request(tmp_path: Path) -> None:
    with serve_github(tmp_path / "config.git") as sim:
        token = sim.add_user("reconciler-bot", permission="admin")
        sim.commit("main", seeded(), "config repo\n")
        (tmp_path / "token").write_text(token + "\n")
        options = [
            "--forge",
            "github",
            "--github-repo",
            "acme/config",
            "--github-url",
            sim.url,
            "--github-token-file",
            str(tmp_path / "token"),
            "--repo",
            str(sim.git_path),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
        opened = run("once", *options)
        assert opened.returncode == 0, opened.stderr
        assert "opened #1 staging: promote order-gateway" in opened.stdout
        pull = sim.pull(1)
        assert pull is not None
        merged = run("once", *options)
        assert merged.returncode == 0, merged.stderr
        assert "merged #1" in merged.stdout
        tip = sim.tip("main")
        assert tip is not None
        staging = sim.read(tip, "overlays/staging/kustomization.yaml")
        assert staging is not None
        assert NEW.encode() in staging
        assert token not in opened.stdout + opened.stderr + merged.stdout + merged.stderr

        settings = Settings(
            repo=str(sim.git_path),
            cache_dir=tmp_path / "cache2",
            forge="github",
            github_repo="acme/config",
            github_url=sim.url,
            github_token_file=tmp_path / "token",
        )
        wired = build(settings)
        wired.runner.plan_only()
        exposition = wired.metrics.exposition().decode()
        assert 'reconciler_forge_requests_total{method="GET",status="200"}' in exposition
        assert "reconciler_forge_rate_limit_remaining" in exposition


def test_once_as_a_github_app(tmp_path: Path) -> None:
    """The same flow with App credentials instead of a token: the PR author is the App's bot."""
    from tests.integration.test_github_app import _rsa_pem

    private, public = _rsa_pem()
    (tmp_path / "app.pem").write_text(private)
    with serve_github(tmp_path / "config.git") as sim:
        installation = sim.add_app(4242, "reconciler", public)
        sim.commit("main", seeded(), "config repo\n")
        opened = run(
            "once",
            "--forge",
            "github",
            "--github-repo",
            "acme/config",
            "--github-url",
            sim.url,
            "--github-app-id",
            "4242",
            "--github-app-key-file",
            str(tmp_path / "app.pem"),
            "--github-installation-id",
            str(installation),
            "--repo",
            str(sim.git_path),
            "--cache-dir",
            str(tmp_path / "cache"),
        )
        assert opened.returncode == 0, opened.stderr
        pull = sim.pull(1)
        assert pull is not None
        assert pull.user == "reconciler[bot]"
        assert "BEGIN" not in opened.stdout + opened.stderr  # no key material anywhere
