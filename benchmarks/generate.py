"""Generate a large config repo for benchmarks: N apps x environments, in one overlay format.

    python -m benchmarks.generate DEST --apps 1000 [--envs dev,staging,prod] [--format helm]

Kustomize overlays come in three real-world styles (comments and quoting, flow lists,
patches), one per app in turn; Helm overlays are values files with nested image keys.

DEST becomes a bare repository (the "remote"); the daemon's clone and the baseline's clone
are made from it by the benchmarks themselves.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

ENVS = ("dev", "staging", "prod")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": "2026-11-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-11-01T00:00:00Z",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def digest(seed: str) -> str:
    """A deterministic fake image digest."""
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def app_name(index: int) -> str:
    """The name of app number ``index``."""
    return f"svc-{index:04d}"


def overlay(app: str, env: str, style: int) -> str:
    """A kustomization in one of a few real-world styles (comments, quoting, flow lists)."""
    image = f"registry.example.com/team/{app}"
    pin = digest(f"{app}-{env}-1")
    if style == 0:
        return (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"namespace: {env}\nresources:\n  - ../../../base/{app}\n"
            f'images:\n  - name: {app}\n    newName: {image}\n    newTag: "v1"  # CI\n'
            f"    digest: {pin}\n"
        )
    if style == 1:
        return (
            f"# {app} in {env}\nresources: [../../../base/{app}]\n"
            f"images: [{{name: {app}, newName: {image}, digest: '{pin}'}}]\n"
        )
    return (
        f"resources:\n- ../../../base/{app}\nimages:\n- name: {app}\n  newName: {image}\n"
        f"  digest: {pin}\npatches:\n- patch: |-\n    - op: replace\n      path: /spec/replicas\n"
        f"      value: {3 if env == 'prod' else 1}\n  target:\n    kind: Deployment\n"
    )


def helm_values(app: str, env: str) -> str:
    """A Helm values file pinning the app's image in the default layout ("tag": the digest
    rides in the tag, as a `helm create` chart renders repository:tag)."""
    return (
        f"# {app} in {env}\nreplicaCount: {3 if env == 'prod' else 1}\nimage:\n"
        f"  repository: registry.example.com/team/{app}\n"
        f'  tag: "v1@{digest(f"{app}-{env}-1")}"\nresources:\n  limits: {{cpu: 500m}}\n'
    )


def policy(apps: int, envs: tuple[str, ...] = ENVS, fmt: str = "kustomize") -> str:
    """promotions.toml for the generated repo: each environment follows the one before."""
    lines = ["version = 1", "", "[settings]", 'poll_interval = "30s"', ""]
    for index in range(apps):
        name = app_name(index)
        lines += [f"[apps.{name}]", f'image = "registry.example.com/team/{name}"', ""]
    for n, env in enumerate(envs):
        lines.append(f"[environments.{env}]")
        if n:
            lines.append(f'follows = "{envs[n - 1]}"')
        if fmt == "helm":
            lines += ['format = "helm"', f'overlay = "charts/{{app}}/values-{env}.yaml"']
        else:
            lines.append(f'overlay = "overlays/{env}/{{app}}"')
        if n == len(envs) - 1 and n:
            lines.append("require_codeowners = true")
        elif n:
            lines.append("auto_merge = true")
    return "\n".join(lines) + "\n"


def generate(dest: Path, apps: int, envs: tuple[str, ...] = ENVS, fmt: str = "kustomize") -> Path:
    """Write the repo and push it to a new bare repository at ``dest``; returns ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        (work / "promotions.toml").write_text(policy(apps, envs, fmt))
        (work / ".github").mkdir()
        owned = (
            f"/overlays/{envs[-1]}/" if fmt == "kustomize" else f"/charts/*/values-{envs[-1]}.yaml"
        )
        (work / ".github/CODEOWNERS").write_text(f"{owned} @example/release\n")
        for index in range(apps):
            name = app_name(index)
            base = work / "base" / name
            base.mkdir(parents=True)
            (base / "kustomization.yaml").write_text("resources:\n- deployment.yaml\n")
            for env in envs:
                if fmt == "helm":
                    chart = work / "charts" / name
                    chart.mkdir(parents=True, exist_ok=True)
                    (chart / f"values-{env}.yaml").write_text(helm_values(name, env))
                    continue
                folder = work / "overlays" / env / name
                folder.mkdir(parents=True)
                (folder / "kustomization.yaml").write_text(overlay(name, env, index % 3))
        subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True, env=_GIT_ENV)
        subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, env=_GIT_ENV)
        subprocess.run(
            ["git", "-C", str(work), "commit", "-q", "-m", "generated config repo"],
            check=True,
            env=_GIT_ENV,
        )
        subprocess.run(
            ["git", "clone", "-q", "--bare", str(work), str(dest)], check=True, env=_GIT_ENV
        )
    return dest


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--envs", default=",".join(ENVS), help="names, first to last")
    parser.add_argument("--format", choices=("kustomize", "helm"), default="kustomize")
    args = parser.parse_args()
    print(generate(args.dest, args.apps, tuple(args.envs.split(",")), args.format))


if __name__ == "__main__":
    main()
