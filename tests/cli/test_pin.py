"""`reconciler pin` in a work tree, as a CI job calls it: one command for Kustomize and Helm
overlays, the daemon's own edit, and nothing written when it refuses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import units
from reconciler.demo import ledger
from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App, HelmKeys
from tests.conftest import ROOT

D = "sha256:b7e2f90c2c5d9f1e6a4b3c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f"
OLD = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ECR = "418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway"
DEV = "overlays/dev/kustomization.yaml"
EXAMPLES = ROOT / "promotion-policies/examples"
ENVS = ("dev", "staging", "prod")

HELM_POLICY = """\
version = 1

[apps.api]
image = "registry.example.com/team/api"

[environments.dev]
format = "helm"
overlay = "values/dev/{app}.yaml"

[environments.prod]
follows = "dev"
format = "helm"
overlay = "values/prod/{app}.yaml"
"""
# A values file with the default keys (image.repository, image.tag), as `helm create` has.
HELM_VALUES = """\
replicaCount: 1
image:
  repository: registry.example.com/team/api
  pullPolicy: IfNotPresent
  # Overrides the image tag whose default is the chart appVersion.
  tag: "1.0.0"
service:
  port: 80
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a CI job's shell runs it."""
    exe = Path(sys.executable).with_name("reconciler")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
    )


@pytest.fixture
def kustomize_repo(tmp_path: Path) -> Path:
    """A work tree of the order-gateway example (Kustomize overlays)."""
    target = tmp_path / "config"
    shutil.copytree(EXAMPLES / "order-gateway", target)
    return target


@pytest.fixture
def helm_repo(tmp_path: Path) -> Path:
    """A work tree with one Helm app whose values use the default keys."""
    target = tmp_path / "helm"
    for env in ("dev", "prod"):
        (target / "values" / env).mkdir(parents=True)
        (target / "values" / env / "api.yaml").write_text(HELM_VALUES)
    (target / "promotions.toml").write_text(HELM_POLICY)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_pins_a_kustomize_overlay_with_a_minimal_diff(kustomize_repo: Path) -> None:
    before = (kustomize_repo / DEV).read_text()
    result = run(
        "pin", "--app", "order-gateway", "--env", "dev", f"{ECR}:b7e2f90@{D}", cwd=kustomize_repo
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"{DEV}: order-gateway in dev: {ECR}:a3f8c12@{OLD} -> {ECR}:b7e2f90@{D}\n"
    )
    assert (kustomize_repo / DEV).read_text() == before.replace(
        '"a3f8c12" # the commit SHA CI built', '"b7e2f90" # the commit SHA CI built'
    ).replace(OLD, D)


def test_pinning_again_changes_nothing_and_says_so(kustomize_repo: Path) -> None:
    args = ("pin", "--repo", str(kustomize_repo), "--app", "order-gateway", "--env", "dev")
    assert run(*args, f"{ECR}:b7e2f90@{D}").returncode == 0
    files = snapshot(kustomize_repo)
    again = run(*args, f"{ECR}:b7e2f90@{D}")
    assert (again.returncode, again.stderr) == (0, "")
    assert "order-gateway in dev already pins" in again.stdout
    assert snapshot(kustomize_repo) == files


def test_a_digest_alone_drops_the_tag(kustomize_repo: Path) -> None:
    result = run(
        "pin",
        "--repo",
        str(kustomize_repo),
        "--app",
        "order-gateway",
        "--env",
        "staging",
        f"{ECR}@{D}",
    )
    assert (result.returncode, result.stderr) == (0, "")
    text = (kustomize_repo / "overlays/staging/kustomization.yaml").read_text()
    assert f"digest: {D}" in text
    assert "newTag" not in text
    assert f"newName: {ECR}" in text


def test_pins_helm_values_with_the_default_keys(helm_repo: Path) -> None:
    path = helm_repo / "values/dev/api.yaml"
    before = path.read_bytes()
    ref = f"registry.example.com/team/api:1.1.0@{D}"
    result = run("pin", "--repo", "helm", "--app", "api", "--env", "dev", ref, cwd=helm_repo.parent)

    assert (result.returncode, result.stderr) == (0, "")
    shown = "helm/values/dev/api.yaml"
    assert result.stdout.startswith(f"{shown}: api in dev: registry.example.com/team/api:1.0.0")
    assert result.stdout.endswith(f" -> {ref}\n")
    # Exactly the daemon's own edit of the values file, whatever layout the keys say.
    app = App(name="api", image="registry.example.com/team/api", helm=HelmKeys())
    wanted = ImagePin("registry.example.com/team/api", "1.1.0", D)
    assert path.read_bytes() == pins.write_pin("helm", before, "values/dev/api.yaml", app, wanted)
    pinned = pins.read_pin("helm", path.read_bytes(), "values/dev/api.yaml", app)
    assert pinned is not None
    assert (pinned.repository, pinned.digest) == ("registry.example.com/team/api", D)
    assert (helm_repo / "values/prod/api.yaml").read_text() == HELM_VALUES


@pytest.mark.parametrize(
    ("app", "image"),
    [
        ("payments-api", "registry.example.com/payments/api"),
        ("payments-worker", "registry.example.com/payments/worker"),
    ],
)
def test_pins_the_helm_example_in_each_layout(tmp_path: Path, app: str, image: str) -> None:
    repo = tmp_path / "payments"
    shutil.copytree(EXAMPLES / "payments-helm", repo)
    result = run("pin", "--repo", str(repo), "--app", app, "--env", "dev", f"{image}:2026.11.4@{D}")
    assert (result.returncode, result.stderr) == (0, "")
    source = EXAMPLES / "payments-helm"
    changed = [
        name for name, data in snapshot(repo).items() if data != (source / name).read_bytes()
    ]
    assert changed == [f"values/dev/{app}.yaml"]
    text = (repo / changed[0]).read_text()
    assert D in text
    assert "2026.11.4" in text


def test_a_normalised_name_is_the_same_repository(tmp_path: Path) -> None:
    repo = tmp_path / "hub"
    (repo / "overlays/dev").mkdir(parents=True)
    (repo / "promotions.toml").write_text(
        'version = 1\n[apps.web]\nimage = "nginx"\n[environments.dev]\noverlay = "overlays/dev"\n'
    )
    (repo / "overlays/dev/kustomization.yaml").write_text(
        "resources: []\nimages:\n  - name: web\n    newName: nginx\n    newTag: '1.26'\n"
    )
    result = run(
        "pin",
        "--repo",
        str(repo),
        "--app",
        "web",
        "--env",
        "dev",
        f"docker.io/library/nginx:1.27@{D}",
    )
    assert (result.returncode, result.stderr) == (0, "")
    # The overlay's own spelling is kept: only the tag and the digest change.
    assert (repo / "overlays/dev/kustomization.yaml").read_text() == (
        "resources: []\nimages:\n  - name: web\n    newName: nginx\n    newTag: '1.27'\n"
        f"    digest: {D}\n"
    )


def test_a_symlinked_overlay_is_edited_where_it_lives(kustomize_repo: Path) -> None:
    real = kustomize_repo / "common/dev"
    real.parent.mkdir()
    (kustomize_repo / "overlays/dev").rename(real)
    (kustomize_repo / "overlays/dev").symlink_to("../common/dev")
    result = run(
        "pin",
        "--repo",
        str(kustomize_repo),
        "--app",
        "order-gateway",
        "--env",
        "dev",
        f"{ECR}:b7e2f90@{D}",
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert (kustomize_repo / "overlays/dev").is_symlink()
    assert not (real / "kustomization.yaml").is_symlink()
    assert D in (real / "kustomization.yaml").read_text()


def test_dry_run_prints_the_diff_and_writes_nothing(kustomize_repo: Path) -> None:
    files = snapshot(kustomize_repo)
    result = run(
        "pin",
        "--repo",
        str(kustomize_repo),
        "--app",
        "order-gateway",
        "--env",
        "dev",
        "--dry-run",
        f"{ECR}:b7e2f90@{D}",
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert snapshot(kustomize_repo) == files
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"--- a/{DEV}", f"+++ b/{DEV}"]
    assert [line for line in lines if line[:1] in "+-" and line[:3] not in ("---", "+++")] == [
        '-    newTag: "a3f8c12" # the commit SHA CI built',
        f"-    digest: {OLD}",
        '+    newTag: "b7e2f90" # the commit SHA CI built',
        f"+    digest: {D}",
    ]
    assert lines[-1].endswith("(dry run: nothing written)")


REFUSALS = [
    pytest.param(
        ("--app", "order-gateway", "--env", "dev", f"{ECR}:v3@sha256:abc"),
        "invalid digest 'sha256:abc': sha256 takes 64 lower-case hex digits, not 3",
        id="malformed digest",
    ),
    pytest.param(
        ("--app", "order-gateway", "--env", "dev", f"{ECR}:v3@not-a-digest"),
        "invalid digest 'not-a-digest'",
        id="not a digest",
    ),
    pytest.param(
        ("--app", "order-gateway", "--env", "dev", f"{ECR}:v3"),
        f"'{ECR}:v3' has no digest: pin IMAGE[:TAG]@DIGEST",
        id="no digest",
    ),
    pytest.param(
        ("--app", "order-gateway", "--env", "dev", f"order-gateway:v3@{D}"),
        "the repository order-gateway (normalised: docker.io/library/order-gateway) is not the "
        f'image of app order-gateway: config/promotions.toml:16 says image = "{ECR}"',
        id="wrong repository",
    ),
    pytest.param(
        ("--app", "order-gateway", "--env", "dev", f"mirror.example.net/order-gateway:v3@{D}"),
        "the repository mirror.example.net/order-gateway is not the image of app order-gateway",
        id="another registry",
    ),
    pytest.param(
        ("--app", "order-gatway", "--env", "dev", f"{ECR}:v3@{D}"),
        'config/promotions.toml: no app "order-gatway"; did you mean "order-gateway"?',
        id="unknown app",
    ),
    pytest.param(
        ("--app", "order-gateway", "--env", "stagin", f"{ECR}:v3@{D}"),
        'config/promotions.toml: no environment "stagin"; did you mean "staging"?',
        id="unknown env",
    ),
]


@pytest.mark.parametrize(("args", "message"), REFUSALS)
def test_refusals_exit_1_and_write_nothing(
    kustomize_repo: Path, args: tuple[str, ...], message: str
) -> None:
    files = snapshot(kustomize_repo)
    result = run("pin", "--repo", "config", *args, cwd=kustomize_repo.parent)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("reconciler pin: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert snapshot(kustomize_repo) == files


def test_an_app_outside_the_environment_is_refused(kustomize_repo: Path) -> None:
    policy = kustomize_repo / "promotions.toml"
    policy.write_text(
        policy.read_text().replace(
            'kustomize_image = "order-gateway"\n',
            'kustomize_image = "order-gateway"\nenvironments = ["dev", "staging"]\n',
        )
    )
    result = run(
        "pin",
        "--repo",
        str(kustomize_repo),
        "--app",
        "order-gateway",
        "--env",
        "prod",
        f"{ECR}:v3@{D}",
    )
    assert result.returncode == 1
    assert (
        "app order-gateway is not promoted through prod (its environments: dev, staging)"
        in result.stderr
    )
    assert "promotions.toml:16:" in result.stderr


def test_an_invalid_policy_is_reported_with_positions(kustomize_repo: Path) -> None:
    policy = kustomize_repo / "promotions.toml"
    policy.write_text(policy.read_text().replace('follows = "dev"', 'follows = "dve"'))
    files = snapshot(kustomize_repo)
    result = run(
        "pin", "--app", "order-gateway", "--env", "dev", f"{ECR}:v3@{D}", cwd=kustomize_repo
    )
    assert result.returncode == 1
    first, *_, last = result.stderr.splitlines()
    assert first.startswith("promotions.toml:")
    assert 'did you mean "dev"?' in first
    assert last.startswith("reconciler pin: promotions.toml is invalid (1 problem)")
    assert snapshot(kustomize_repo) == files


def test_a_broken_overlay_is_refused_at_its_line(kustomize_repo: Path) -> None:
    overlay = kustomize_repo / DEV
    overlay.write_text(overlay.read_text().replace(f"digest: {OLD}", "digest: sha256:abc"))
    files = snapshot(kustomize_repo)
    result = run(
        "pin", "--app", "order-gateway", "--env", "dev", f"{ECR}:v3@{D}", cwd=kustomize_repo
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"reconciler pin: {DEV}:10:")
    assert snapshot(kustomize_repo) == files


def test_a_missing_overlay_is_refused(helm_repo: Path) -> None:
    (helm_repo / "values/dev/api.yaml").unlink()
    result = run(
        "pin",
        "--repo",
        str(helm_repo),
        "--app",
        "api",
        "--env",
        "dev",
        f"registry.example.com/team/api:1@{D}",
    )
    assert result.returncode == 1
    assert "values/dev/api.yaml" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--repo", "no-such-folder"), "reconciler pin: no-such-folder is not a folder (--repo)"),
        (("--repo", "."), "reconciler pin: cannot read promotions.toml: no such file"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run(
        "pin", *args, "--app", "a", "--env", "dev", f"reg.example.com/a:1@{D}", cwd=tmp_path
    )
    assert (result.returncode, result.stderr.strip()) == (2, message)


def test_app_and_env_are_required(tmp_path: Path) -> None:
    result = run("pin", f"reg.example.com/a:1@{D}", cwd=tmp_path)
    assert result.returncode == 2
    assert "--app" in result.stderr


def test_an_app_of_several_images_pins_the_part_its_reference_names(
    kustomize_repo: Path,
) -> None:
    files = {
        name: (kustomize_repo / name).read_bytes()
        for name in ("promotions.toml", *(f"overlays/{e}/kustomization.yaml" for e in ENVS))
    }
    seeded = {"api": OLD, "migrate": OLD.replace("9f", "8e", 1)}
    for name, data in ledger.with_ledger(files, seeded).items():
        (kustomize_repo / name).write_bytes(data)
    migrations = ledger.IMAGES["migrate"]
    before = (kustomize_repo / DEV).read_text()

    result = run("pin", "--app", "ledger", "--env", "dev", f"{migrations}@{D}", cwd=kustomize_repo)

    assert (result.returncode, result.stderr) == (0, "")
    assert (
        result.stdout
        == f"{DEV}: ledger in dev: {migrations}@{seeded['migrate']} -> {migrations}@{D}\n"
    )
    assert (kustomize_repo / DEV).read_text() == before.replace(seeded["migrate"], D)
    pinned = pins.read_pin("kustomize", (kustomize_repo / DEV).read_bytes(), DEV, ledger.app())
    assert pinned is not None
    assert pinned.digest == units.key({"api": OLD, "migrate": D})

    files = snapshot(kustomize_repo)
    refused = run("pin", "--app", "ledger", "--env", "dev", f"{ECR}@{D}", cwd=kustomize_repo)
    assert refused.returncode == 1
    assert "is no part of app ledger" in refused.stderr
    assert f"api = {ledger.IMAGES['api']}, migrate = {migrations}" in refused.stderr
    assert snapshot(kustomize_repo) == files
