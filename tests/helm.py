"""The real Helm engine, for tests that render charts with the values the daemon wrote.

``template`` runs ``helm template`` with the binary tools/install-renderers pins (helm
v3.18.0, sha256-checked; .ci/run and scripts/bootstrap install it), or the one
RECONCILER_HELM names. Without it a test skips, and fails under CI=true. Helm's own config
and cache folders point into a temporary folder: a test never reads or writes the user's.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, need
from tests.kustomize import WORKLOADS, _yaml

PINNED = ROOT / "tools/bin/helm"
INSTALL = "tools/install-renderers (or scripts/bootstrap) installs it"
CHARTS = ROOT / "tests/data/charts"


def binary() -> Path:
    """The helm to run: $RECONCILER_HELM, else the one tools/ pins."""
    path = Path(os.environ.get("RECONCILER_HELM") or PINNED)
    need(path.is_file() and os.access(path, os.X_OK), f"helm ({path}; {INSTALL})")
    return path


def template(chart: Path, values: bytes) -> list[dict[str, Any]]:
    """The objects ``helm template`` renders from ``chart`` with ``values`` (a values file's
    bytes, given after the chart's own values.yaml, as an environment's values file is)."""
    with tempfile.TemporaryDirectory(prefix="helm-") as home:
        given = Path(home) / "values.yaml"
        given.write_bytes(values)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": home,
            "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config",
            "HELM_DATA_HOME": f"{home}/data",
        }
        try:
            done = subprocess.run(
                [str(binary()), "template", "release", str(chart), "--values", str(given)],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
                env=env,
            )
        except subprocess.CalledProcessError as failed:
            raise AssertionError(f"helm template {chart} failed:\n{failed.stderr}") from None
    return [doc for doc in _yaml().load_all(done.stdout) if doc]


def images(objects: list[dict[str, Any]]) -> list[str]:
    """The container images of every workload rendered, in order."""
    return [
        container["image"]
        for obj in objects
        if obj.get("kind") in WORKLOADS
        for container in obj["spec"]["template"]["spec"]["containers"]
    ]
