"""Which images a Helm chart runs with a values file: ``helm template``, the real engine, for
`reconciler doctor`. The chart is copied out of the config repo's tree into a temporary
folder; helm runs with its config and cache there too, no network, bounded in time."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from reconciler.gitrepo.port import ReadView
from reconciler.overlays.yamlread import load_all

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}
_MAX_FILES = 2_000  # a chart folder is small; more is a path mistake (the repo root)


def helm_binary() -> str | None:
    """The helm to run: $RECONCILER_HELM, else ``helm`` on PATH; None when there is none."""
    named = os.environ.get("RECONCILER_HELM")
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("helm")


def rendered_images(
    helm: str, view: ReadView, chart: str, values: Sequence[bytes], *, timeout: float = 60.0
) -> tuple[str, ...]:
    """The container images the workloads of ``chart`` (a folder in ``view``) run with
    ``values`` (values files' bytes, each given with ``--values`` in order) after the
    chart's own; ValueError saying why when it cannot render."""
    with tempfile.TemporaryDirectory(prefix="reconciler-chart-") as scratch:
        root = Path(scratch)
        _copy(view, chart, root / "chart")
        given: list[str] = []
        for number, data in enumerate(values):
            (root / f"values-{number}.yaml").write_bytes(data)
            given += ["--values", str(root / f"values-{number}.yaml")]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": scratch,
            "HELM_CACHE_HOME": f"{scratch}/cache",
            "HELM_CONFIG_HOME": f"{scratch}/config",
            "HELM_DATA_HOME": f"{scratch}/data",
        }
        command = [helm, "template", "release", str(root / "chart")]
        try:
            done = subprocess.run(
                [*command, *given],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise ValueError(f"helm template {chart} took longer than {timeout:.0f}s") from None
        except OSError as failed:
            raise ValueError(f"cannot run {helm}: {failed.strerror}") from None
        if done.returncode != 0:
            said = done.stderr.strip().splitlines()[-1:] or ["no message"]
            raise ValueError(f"helm template {chart} failed: {said[0][:300]}")
        return _images(done.stdout)


def _copy(view: ReadView, folder: str, into: Path) -> None:
    if view.kind(folder) != "dir":
        raise ValueError(f"{folder} is not a folder in the config repo")
    pending, copied = [folder], 0
    while pending:
        here = pending.pop()
        for name in view.names(here):
            path = f"{here}/{name}"
            kind = view.kind(path)
            if kind == "dir":
                pending.append(path)
            elif kind == "file":
                data = view.read(path)
                copied += 1
                if data is None or copied > _MAX_FILES:
                    raise ValueError(f"{folder} is not a chart folder (too many files)")
                target = into / path[len(folder) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)


def _images(rendered: str) -> tuple[str, ...]:
    found: list[str] = []
    for doc in load_all(rendered):
        if not isinstance(doc, dict) or doc.get("kind") not in WORKLOADS:
            continue
        spec = doc.get("spec") or {}
        if doc["kind"] == "CronJob":
            spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
        pod = spec if doc["kind"] == "Pod" else ((spec.get("template") or {}).get("spec") or {})
        for key in ("initContainers", "containers"):
            found += [str(c.get("image")) for c in pod.get(key) or () if isinstance(c, dict)]
    return tuple(found)
