"""`reconciler doctor`: the preflight checklist, on the local forge and on the GitHub simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.clock import utc_now
from reconciler.demo.flow import QUICK, seed_files
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import create_repository
from tests.cli.test_validate import run
from tests.conftest import ROOT
from tests.helm import CHARTS
from tests.helm import binary as helm_binary
from tests.servers.github_sim import serve_github
from tests.signing import ssh_key

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
    assert "[ok  ] main requires signed commits: no: the local forge requires no" in result.stdout
    assert "can sign" not in result.stdout  # no --signing-key, and none needed


def test_doctor_signs_a_test_text_with_the_key_given(tmp_path: Path) -> None:
    made = ssh_key(tmp_path / "keys")
    where = ["--repo", str(repo(tmp_path)), "--cache-dir", str(tmp_path / "c")]
    result = run("doctor", *where, *made.options())
    assert result.returncode == 0, result.stdout
    assert f"[ok  ] the daemon can sign its commits: the SSH signing key {made.options()[1]}: " in (
        result.stdout
    )
    gone = tmp_path / "gone"
    missing = run("doctor", *where, "--signing-key", str(gone))
    assert missing.returncode == 1
    assert f"[FAIL] the daemon can sign its commits: cannot read the SSH signing key {gone}" in (
        missing.stdout
    )
    assert "[ok  ] config repo can be read" in missing.stdout  # the key stops nothing else


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


# -- Helm charts rendered by the real engine (issue 18, item 2) --------------------------------

PAYMENTS = ROOT / "promotion-policies/examples/payments-helm"


def _tree(folder: Path, prefix: str = "") -> dict[str, bytes]:
    return {
        prefix + str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_doctor_renders_each_helm_environment_and_names_the_image_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_HELM", str(helm_binary()))
    files = _tree(PAYMENTS)
    create_repository(tmp_path / "config.git", files, branch="main", message="seed", author=ME)

    result = run(
        "doctor", "--repo", str(tmp_path / "config.git"), "--cache-dir", str(tmp_path / "c")
    )

    assert (
        "[ok  ] charts/payments renders payments-api's image in prod: runs "
        "registry.example.com/payments/api@sha256:"
    ) in result.stdout
    assert "[ok  ] charts/payments renders payments-worker's image in dev: runs " in result.stdout


def test_doctor_fails_a_layout_the_chart_does_not_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `helm create` chart with the "digest" layout: the digest is written, the tag runs."""
    monkeypatch.setenv("RECONCILER_HELM", str(helm_binary()))
    files = {**_tree(PAYMENTS), **_tree(CHARTS / "created", "charts/created/")}
    policy = (
        files["promotions.toml"]
        .decode()
        .replace(
            'chart = "charts/payments" }\n\n[apps.payments-worker]',
            'chart = "charts/created" }\n\n[apps.payments-worker]',
        )
    )
    assert policy != files["promotions.toml"].decode()
    files["promotions.toml"] = policy.encode()
    create_repository(tmp_path / "config.git", files, branch="main", message="seed", author=ME)

    result = run(
        "doctor", "--repo", str(tmp_path / "config.git"), "--cache-dir", str(tmp_path / "c")
    )

    assert result.returncode == 1
    assert (
        "[FAIL] charts/created renders payments-api's image in dev: runs "
        "registry.example.com/payments/api:2026.11.3; the values pin "
        "registry.example.com/payments/api:2026.11.3@sha256:"
    ) in result.stdout
    assert "fix: set [apps.NAME.helm] layout to how the chart renders the image" in result.stdout


def test_doctor_says_when_it_cannot_render_without_helm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_HELM", str(tmp_path / "no-helm"))
    create_repository(
        tmp_path / "config.git", _tree(PAYMENTS), branch="main", message="s", author=ME
    )

    result = run(
        "doctor", "--repo", str(tmp_path / "config.git"), "--cache-dir", str(tmp_path / "c")
    )

    assert "[warn] Helm charts render the pinned images: no helm on PATH" in result.stdout
