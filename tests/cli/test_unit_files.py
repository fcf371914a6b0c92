"""An app of two images whose migrations part is pinned in a file of its own, through the
installed command. Helm, a values file beside each environment's (`overlay =
"{app}-jobs.yaml"`): `reconciler once` promotes the set in one commit editing both files,
and `reconciler doctor` renders the chart with the environment's values file then the
part's (`helm template -f ... -f ...`, the real engine), each part running the digest its
file pins. Kustomize: `doctor` and `validate` name an overlay that does not take in its
part's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import units
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from tests.cli.test_doctor import ME
from tests.cli.test_validate import run
from tests.helm import binary as helm_binary

API, MIGRATE = "registry.example.com/ledger/api", "registry.example.com/ledger/migrate"
OLD = {"api": "sha256:" + "1" * 64, "migrate": "sha256:" + "2" * 64}
NEW = {"api": "sha256:" + "3" * 64, "migrate": "sha256:" + "4" * 64}
POLICY = f"""\
version = 1

[apps.ledger.images.api]
image = "{API}"
helm = {{ image = "api.image", chart = "charts/ledger" }}

[apps.ledger.images.migrate]
image = "{MIGRATE}"
helm = {{ image = "migrate.image", chart = "charts/ledger" }}
overlay = "{{app}}-jobs.yaml"

[environments.dev]
format = "helm"
overlay = "values/dev/{{app}}.yaml"

[environments.prod]
follows = "dev"
format = "helm"
overlay = "values/prod/{{app}}.yaml"
mode = "commit"
"""
# The chart runs the api as a Deployment and the migrations as a Job; its own values name
# an image nobody pins, so a render without the part's file shows it.
TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    matchLabels: {app: ledger}
  template:
    metadata:
      labels: {app: ledger}
    spec:
      containers:
        - name: api
          image: {{ .Values.api.image | quote }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: {{ .Values.migrate.image | quote }}
"""


def files(dev: dict[str, str], prod: dict[str, str]) -> dict[str, bytes]:
    out = {
        "promotions.toml": POLICY.encode(),
        "charts/ledger/Chart.yaml": b"apiVersion: v2\nname: ledger\nversion: 0.1.0\n",
        "charts/ledger/values.yaml": b"api:\n  image: unset\nmigrate:\n  image: unset\n",
        "charts/ledger/templates/workloads.yaml": TEMPLATE.encode(),
    }
    for env, pins in (("dev", dev), ("prod", prod)):
        out[f"values/{env}/ledger.yaml"] = (
            f"replicas: 2\napi:\n  image: {API}@{pins['api']}  # the service\n".encode()
        )
        out[f"values/{env}/ledger-jobs.yaml"] = (
            f"migrate:\n  image: {MIGRATE}@{pins['migrate']}\n".encode()
        )
    return out


def test_a_helm_part_in_its_own_values_file_is_promoted_and_rendered_with_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_HELM", str(helm_binary()))
    remote = tmp_path / "config.git"
    create_repository(remote, files(NEW, OLD), branch="main", message="seed", author=ME)
    git = ("--repo", str(remote), "--cache-dir", str(tmp_path / "c"))

    once = run("once", *git)

    assert once.returncode == 0, once.stdout + once.stderr
    repo = Pygit2ConfigRepo.open(str(remote), tmp_path / "reader")
    tip = repo.tip("main")
    assert tip is not None
    info = repo.commit_info(tip)
    assert info.trailer("Image-Digest") == units.key(NEW)
    changed = sorted(c.path for c in repo.changed_paths(info.parents[0], tip))
    assert changed == ["values/prod/ledger-jobs.yaml", "values/prod/ledger.yaml"]
    # The minimal edit: the digest changed, the comment and the other keys stayed.
    assert repo.read(tip, "values/prod/ledger.yaml") == files(NEW, NEW)["values/prod/ledger.yaml"]

    doctor = run("doctor", *git)

    for part, image in (("api", API), ("migrate", MIGRATE)):
        assert (
            f"[ok  ] charts/ledger renders ledger's image {part} in prod: runs {image}@{NEW[part]}"
        ) in doctor.stdout, doctor.stdout


KUSTOMIZE_POLICY = f"""\
version = 1

[apps.ledger.images.api]
image = "{API}"

[apps.ledger.images.migrate]
image = "{MIGRATE}"
overlay = "jobs"

[environments.dev]
overlay = "overlays/dev"

[environments.prod]
follows = "dev"
overlay = "overlays/prod"
"""


def test_doctor_and_validate_name_an_overlay_that_does_not_take_in_its_part_folder(
    tmp_path: Path,
) -> None:
    files = {"promotions.toml": KUSTOMIZE_POLICY.encode()}
    for env, listed in (("dev", b"  - jobs\n"), ("prod", b"")):
        files[f"overlays/{env}/kustomization.yaml"] = (
            b"resources:\n  - ../../base\n" + listed + b"images:\n  - name: api\n"
            b"    newName: " + API.encode() + b"\n    digest: " + OLD["api"].encode() + b"\n"
        )
        files[f"overlays/{env}/jobs/kustomization.yaml"] = (
            b"images:\n  - name: migrate\n    newName: " + MIGRATE.encode() + b"\n"
            b"    digest: " + OLD["migrate"].encode() + b"\n"
        )
    remote = tmp_path / "config.git"
    create_repository(remote, files, branch="main", message="seed", author=ME)

    doctor = run("doctor", "--repo", str(remote), "--cache-dir", str(tmp_path / "c"))

    assert (
        "[ok  ] overlays/dev takes in ledger's part folders (overlays/dev/jobs): a render runs "
        "every part's pin"
    ) in doctor.stdout, doctor.stdout
    assert (
        "[FAIL] overlays/prod takes in ledger's part folders (overlays/prod/jobs): not in its "
        "resources: overlays/prod/jobs\n"
        "       fix: list each folder under resources: in overlays/prod/kustomization.yaml"
    ) in doctor.stdout, doctor.stdout
    assert doctor.returncode == 1
    # validate says it too, in a work tree, as a warning at the overlay's file.
    work = tmp_path / "work"
    for path, data in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)

    validate = run("validate", str(work))

    assert validate.returncode == 0, validate.stdout + validate.stderr
    warnings = [line for line in validate.stdout.splitlines() if "warning" in line]
    assert warnings == [
        f"{work}/overlays/prod/kustomization.yaml:1:1: warning: overlays/prod does not take in "
        "overlays/prod/jobs, where a part of ledger is pinned: a render runs that part's base "
        "image, whatever overlays/prod/jobs pins; list jobs under resources: here"
    ]
