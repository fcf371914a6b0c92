"""Checks of the policy against the config repo's files: overlays (and the own overlays of
a unit's parts) exist and stay inside."""

from __future__ import annotations

from reconciler.model import KUSTOMIZATION_FILES, RepoTree
from reconciler.policy.diagnostics import Problems
from reconciler.policy.model import App, Policy
from reconciler.policy.values import fill


def check_overlays(policy: Policy, tree: RepoTree, problems: Problems) -> None:
    """Every overlay path, per app where it uses "{app}", exists and stays in the repo."""
    # Only apps whose parts have files of their own are looked at again below.
    spread = [app for app in policy.apps.values() if app.images and app.has_part_files]
    for name, env in policy.environments.items():
        path = ("environments", name, "overlay")
        if problems.is_bad(path) or not env.overlay:
            continue
        if "{app}" in env.overlay:
            targets = [fill(env.overlay, app=app.name) for app in policy.apps_in(name)]
        else:
            targets = [env.overlay]
        for target in targets:
            message = _problem(tree, target, env.format)
            if message:
                problems.add(path, f"environments.{name}.overlay: {message}", "overlay-path")
        if spread and not problems.is_bad(path):
            _check_parts(policy, name, spread, tree, problems)


def _check_parts(
    policy: Policy, env_name: str, spread: list[App], tree: RepoTree, problems: Problems
) -> None:
    """The own overlay of each part that has one, in this environment, exists and stays in
    the repo: a folder with a kustomization under the environment's overlay folder, or a
    values file beside its values file."""
    env = policy.environments[env_name]
    for app in spread:
        if not policy.has_app_in(app.name, env_name):
            continue
        for part_name, part in app.images.items():
            path = ("apps", app.name, "images", part_name, "overlay")
            if not part.overlay or problems.is_bad(path):
                continue
            main = fill(env.overlay, app=app.name)
            folder = main if env.format == "kustomize" else main.rpartition("/")[0]
            own = fill(part.overlay, app=app.name)
            target = f"{folder}/{own}" if folder else own
            message = _problem(tree, target, env.format)
            if message:
                problems.add(
                    path,
                    f"apps.{app.name}.images.{part_name}.overlay: in environment {env_name}, "
                    f"{message}",
                    "overlay-path",
                )


def _problem(tree: RepoTree, target: str, fmt: str) -> str | None:
    kind = tree.kind(target)
    if kind == "escapes":
        return f'"{target}" leads outside the repo through a symlink'
    if kind == "missing":
        return f'"{target}" does not exist in the repo'
    if fmt == "helm":
        return None if kind == "file" else f'"{target}" is a folder; name the Helm values file'
    if kind != "dir":
        return f'"{target}" is a file; name the overlay folder that holds kustomization.yaml'
    for file in KUSTOMIZATION_FILES:
        found = tree.kind(f"{target}/{file}")
        if found == "file":
            return None
        if found == "escapes":
            return f'"{target}/{file}" leads outside the repo through a symlink'
    return f'"{target}" has no kustomization.yaml'
