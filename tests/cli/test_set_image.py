"""`reconciler set-image` as a CI job calls it: a drop-in for `kustomize edit set image`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_validate import run

D = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base   # shared
images:
  - name: order-gateway
    newName: 418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway
    newTag: "placeholder"   # CI updates this
"""


@pytest.mark.parametrize("filename", ["kustomization.yaml", "kustomization.yml", "Kustomization"])
def test_pins_the_dev_overlay_in_place(tmp_path: Path, filename: str) -> None:
    (tmp_path / filename).write_text(OVERLAY)
    image = "418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway"
    result = run("set-image", "--dir", str(tmp_path), f"order-gateway={image}:a3f8c12@{D}")
    assert (result.returncode, result.stderr) == (0, "")
    assert (tmp_path / filename).read_text() == OVERLAY.replace(
        '"placeholder"   # CI updates this', f'"a3f8c12"   # CI updates this\n    digest: {D}'
    )


def test_defaults_to_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(OVERLAY)
    assert run("set-image", "order-gateway:b7e2f90", cwd=tmp_path).returncode == 0
    assert 'newTag: "b7e2f90"' in (tmp_path / "kustomization.yaml").read_text()
    assert "newName:" not in (tmp_path / "kustomization.yaml").read_text()  # replaced whole


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad"], "invalid format of image, use one of the following options:"),
        ([], "no image specified"),
        # issue 18: a malformed digest is refused, as kustomize refuses a malformed argument
        (
            ["order-gateway=reg/app:v3@not-a-digest"],
            'reconciler set-image: "order-gateway=reg/app:v3@not-a-digest": invalid digest '
            "'not-a-digest': it is not ALGORITHM:ENCODED; write sha256:<64 lower-case hex "
            "digits> or sha512:<128 lower-case hex digits>",
        ),
        (["order-gateway=reg/app:v3@sha256:abc"], "sha256 takes 64 lower-case hex digits, not 3"),
        (["order-gateway@sha256:abc"], "invalid digest 'sha256:abc'"),
        (["order-gateway@"], "invalid digest ''"),
        ([f"order-gateway@blake3:{D[7:]}"], "the algorithm 'blake3' is not accepted"),
        ([f"order-gateway=Reg/App@{D}"], "invalid image name: image reference 'Reg/App'"),
        (["order-gateway:-v1"], "tag '-v1' is not valid"),
        # every argument is checked before anything is written
        ([f"order-gateway@{D}", "other@sha256:abc"], "invalid digest 'sha256:abc'"),
    ],
)
def test_bad_arguments_leave_the_file_alone(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "kustomization.yaml").write_text(OVERLAY)
    before = (tmp_path / "kustomization.yaml").stat()
    result = run("set-image", *args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert (tmp_path / "kustomization.yaml").read_text() == OVERLAY
    assert (tmp_path / "kustomization.yaml").stat().st_mtime_ns == before.st_mtime_ns


def test_malformed_overlay_names_file_and_line(tmp_path: Path) -> None:
    broken = OVERLAY.replace("  - name: order-gateway", "  - name: [order-gateway")
    (tmp_path / "kustomization.yaml").write_text(broken)
    result = run("set-image", "order-gateway:v2", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("reconciler set-image: kustomization.yaml:")
    assert "invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "kustomization.yaml").read_text() == broken
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kustomization.yaml"]  # no temp left


def test_missing_and_ambiguous_kustomization(tmp_path: Path) -> None:
    result = run("set-image", "a:1", cwd=tmp_path)
    assert (result.returncode, "missing kustomization file" in result.stderr) == (1, True)
    (tmp_path / "kustomization.yaml").write_text("images: []\n")
    (tmp_path / "Kustomization").write_text("images: []\n")
    result = run("set-image", "a:1", cwd=tmp_path)
    assert (result.returncode, "found multiple kustomization files" in result.stderr) == (1, True)


def test_file_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "kustomization.yaml"
    path.write_text(OVERLAY)
    path.chmod(0o600)
    assert run("set-image", "order-gateway:v9", cwd=tmp_path).returncode == 0
    assert path.stat().st_mode & 0o777 == 0o600


def test_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(OVERLAY)
    image = "418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway"
    result = run("set-image", "--dry-run", f"order-gateway={image}:a3f8c12@{D}", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "--- a/kustomization.yaml\n"
        "+++ b/kustomization.yaml\n"
        "@@ -5,4 +5,5 @@\n"
        " images:\n"
        "   - name: order-gateway\n"
        "     newName: 418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway\n"
        '-    newTag: "placeholder"   # CI updates this\n'
        '+    newTag: "a3f8c12"   # CI updates this\n'
        f"+    digest: {D}\n"
        "kustomization.yaml: dry run: nothing written\n"
    )
    assert (tmp_path / "kustomization.yaml").read_text() == OVERLAY
    again = run("set-image", "--dry-run", f"order-gateway={image}:placeholder", cwd=tmp_path)
    assert again.stdout == "kustomization.yaml: no change\n"
