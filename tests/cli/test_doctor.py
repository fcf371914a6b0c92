"""`reconciler doctor`: the preflight checklist, on the local forge and on the GitHub simulator."""

from __future__ import annotations

from pathlib import Path

from reconciler.clock import utc_now
from reconciler.demo.flow import QUICK, seed_files
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import create_repository
from tests.cli.test_validate import run
from tests.servers.github_sim import serve_github

ME = Signature("platform", "platform@example.com", utc_now().replace(microsecond=0))


def repo(tmp_path: Path, **changes: bytes) -> Path:
    files = {**seed_files("http://127.0.0.1:9", QUICK), **changes}
    create_repository(tmp_path / "config.git", files, branch="main", message="seed", author=ME)
    return tmp_path / "config.git"


def test_a_healthy_local_setup_passes(tmp_path: Path) -> None:
    result = run("doctor", "--repo", str(repo(tmp_path)), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 0, result.stdout
    assert "[ok  ] main enforces code-owner review" in result.stdout
    assert "[ok  ] CODEOWNERS covers overlays/prod/kustomization.yaml" in result.stdout
    assert "[warn] live source answers for order-gateway in prod" in result.stdout  # port 9


def test_a_codeowners_gap_fails_with_the_fix(tmp_path: Path) -> None:
    gap = repo(tmp_path, **{".github/CODEOWNERS": b"/overlays/staging/ @someone\n"})
    result = run("doctor", "--repo", str(gap), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 1
    assert "[FAIL] CODEOWNERS covers overlays/prod/kustomization.yaml" in result.stdout
    assert "fix: add /overlays/prod/ @your-team to .github/CODEOWNERS" in result.stdout


def test_on_github_missing_protection_is_reported_then_fixed(tmp_path: Path) -> None:
    with serve_github(tmp_path / "config.git", owner="swiggy-platform") as sim:
        token = sim.add_user("reconciler-bot", permission="admin")
        sim.commit("main", seed_files("http://127.0.0.1:9", QUICK), "seed\n")
        (tmp_path / "token").write_text(token)
        options = [
            "--forge",
            "github",
            "--github-repo",
            "swiggy-platform/config",
            "--github-url",
            sim.url,
            "--github-token-file",
            str(tmp_path / "token"),
            "--repo",
            str(sim.git_path),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
        before = run("doctor", *options)
        assert before.returncode == 1
        assert (
            "[FAIL] main enforces code-owner review on the daemon: main is not protected and no "
            "active ruleset requires review from code owners: turn on 'Require review from Code "
            "Owners' in its branch protection"
        ) in before.stdout
        assert "[FAIL] the forge reports no CODEOWNERS errors: .github/CODEOWNERS:2:" in (
            before.stdout
        )  # the example's teams do not exist yet
        sim.protect("main", require_code_owner_reviews=True, enforce_admins=True)
        sim.add_team("release-managers", ("reconciler-bot",))
        sim.add_team("platform", ("reconciler-bot",))
        after = run("doctor", *options)
        assert after.returncode == 0, after.stdout
        assert "[ok  ] main enforces code-owner review on the daemon" in after.stdout
        assert "[ok  ] the forge reports no CODEOWNERS errors" in after.stdout
        assert "[ok  ] the daemon's identity can push: the forge grants push" in after.stdout
        assert token not in before.stdout + after.stdout + before.stderr + after.stderr
