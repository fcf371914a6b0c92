"""A kustomize subset for the tests of deploy/ (no kustomize binary is installed in CI).

``render`` builds what ``kustomize build FOLDER`` prints for the keys these kustomizations
use: resources, components, namespace, images, replicas, strategic-merge patches from files
(``$patch: delete`` included) and replacements between fields (whole nodes, or one part of
a delimited string). Any other key fails the build, so a kustomization cannot quietly grow
past what is checked. Transformers run in kustomize's order: patches, namespace, replicas,
images, replacements; components run after the resources and before the transformers of
the kustomization that lists them. Where kubectl is installed, test_deploy_sharded.py
compares these renders with ``kubectl kustomize``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition"}
WORKLOADS = ("Deployment", "StatefulSet")
# Lists in a strategic-merge patch merged by this key (Kubernetes' patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
}
KEYS = {
    "Kustomization": {"resources", "components", "namespace", "images", "replicas"},
    "Component": {"resources"},
}
SHARED_KEYS = {"apiVersion", "kind", "patches", "replacements"}


def _yaml() -> YAML:
    """A YAML 1.1 loader, as kustomize reads manifests: `defaultMode: 0440` is octal (288),
    where YAML 1.2 would read the decimal 440 and validate a mode nobody meant."""
    loader = YAML(typ="safe")
    loader.version = (1, 1)
    return loader


def load_all(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file."""
    return [doc for doc in _yaml().load_all(path.read_text()) if doc]


def merge(base: Any, patch: Any, key: str = "") -> Any:
    """Strategic merge as kustomize does it for the fields these patches touch.

    Merged lists hold the patch's items first, in the patch's order, then the base items
    the patch does not name: kustomize's order, which dependent variables ($(VAR)) rely on.
    """
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for name, value in patch.items():
            out[name] = merge(base[name], value, name) if name in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        field = MERGE_KEYS[key]
        by_key = {item.get(field): item for item in base}
        named = [item.get(field) for item in patch]
        merged = [
            merge(by_key[item.get(field)], item) if item.get(field) in by_key else item
            for item in patch
        ]
        return merged + [item for item in base if item.get(field) not in named]
    return patch


def image_name(ref: str) -> str:
    """The repository part of an image reference, without tag or digest."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def set_image(ref: str, rule: dict[str, str]) -> str:
    """An image reference after a kustomization ``images:`` entry, as kustomize writes it."""
    new = rule.get("newName", image_name(ref))
    if "digest" in rule and "newTag" in rule:  # both kept since kustomize 4.5 (#4406)
        return f"{new}:{rule['newTag']}@{rule['digest']}"
    if "digest" in rule:
        return f"{new}@{rule['digest']}"
    if "newTag" in rule:
        return f"{new}:{rule['newTag']}"
    return new + ref[len(image_name(ref)) :]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a workload's pod template."""
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


_STEP = re.compile(r"\[(\w+)=([^\]]*)\]")


def _walk(node: Any, path: str) -> tuple[Any, Any]:
    """(parent, key) of a replacement field path: `a.b.[name=x].c`, every step present."""
    steps = path.split(".")
    for step in steps[:-1]:
        node = _step(node, step)
    return node, steps[-1]


def _step(node: Any, step: str) -> Any:
    found = _STEP.fullmatch(step)
    if found:
        matches = [item for item in node if item.get(found[1]) == found[2]]
        assert len(matches) == 1, f"{step}: {len(matches)} list items match"
        return matches[0]
    assert isinstance(node, dict), f"replacement path step {step} is not a mapping"
    assert step in node, f"replacement path step {step} not found"
    return node[step]


def _select(objects: list[dict[str, Any]], select: dict[str, str]) -> list[dict[str, Any]]:
    assert set(select) <= {"kind", "name"}, f"the renderer selects by kind and name: {select}"
    return [
        o
        for o in objects
        if o["kind"] == select.get("kind", o["kind"])
        and o["metadata"]["name"] == select.get("name", o["metadata"]["name"])
    ]


def replace(objects: list[dict[str, Any]], rule: dict[str, Any]) -> None:
    """One ``replacements:`` entry, applied in place."""
    source = rule["source"]
    (origin,) = _select(objects, {k: source[k] for k in ("kind", "name")})
    parent, key = _walk(origin, source["fieldPath"])
    value = parent[key]
    for target in rule["targets"]:
        options = target.get("options", {})
        assert set(options) <= {"delimiter", "index"}, f"unhandled options {options}"
        chosen = _select(objects, target["select"])
        assert chosen, f"replacement target {target['select']} selects nothing"
        for obj in chosen:
            for path in target["fieldPaths"]:
                parent, key = _walk(obj, path)
                assert key in parent, f"replacement target {path} not found"
                if "delimiter" in options:
                    parts = str(parent[key]).split(options["delimiter"])
                    parts[options.get("index", 0)] = str(value)
                    parent[key] = options["delimiter"].join(parts)
                else:
                    parent[key] = copy.deepcopy(value)


def render(folder: Path, below: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """What `kustomize build FOLDER` prints; for a Component, applied to ``below``."""
    kustomization = _yaml().load((folder / "kustomization.yaml").read_text())
    kind = kustomization.get("kind", "Kustomization")
    assert (kind == "Component") == (below is not None), f"{folder}: a {kind} used as such"
    unsupported = set(kustomization) - SHARED_KEYS - KEYS[kind]
    assert not unsupported, f"{folder}: the test's renderer does not handle {unsupported}"
    objects = copy.deepcopy(below or [])
    for entry in kustomization.get("resources", []):
        target = folder / entry
        objects += render(target) if target.is_dir() else load_all(target)
    for component in kustomization.get("components", []):
        objects = render(folder / component, objects)
    for patch_entry in kustomization.get("patches", []):
        assert set(patch_entry) == {"path"}, f"{folder}: only `patches: - path:` is handled"
        for patch in load_all(folder / patch_entry["path"]):
            matches = _select(objects, {"kind": patch["kind"], "name": patch["metadata"]["name"]})
            assert matches, f"{folder}: patch {patch_entry['path']} matches no resource"
            at = next(i for i, o in enumerate(objects) if o is matches[0])
            if patch.get("$patch") == "delete":
                del objects[at]
            else:
                objects[at] = merge(objects[at], patch)
    objects = copy.deepcopy(objects)
    if "namespace" in kustomization:
        namespace = kustomization["namespace"]
        accounts = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
            for subject in obj.get("subjects", []):
                if subject["kind"] == "ServiceAccount" and subject["name"] in accounts:
                    subject["namespace"] = namespace
    for rule in kustomization.get("replicas", []):
        for obj in objects:
            if obj["kind"] in WORKLOADS and obj["metadata"]["name"] == rule["name"]:
                obj["spec"]["replicas"] = rule["count"]
    for rule in kustomization.get("images", []):
        for obj in objects:
            for container in containers(obj):
                if image_name(container["image"]) == rule["name"]:
                    container["image"] = set_image(container["image"], rule)
    for rule in kustomization.get("replacements", []):
        replace(objects, rule)
    return objects


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


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """A container's literal environment (variables from the downward API left out)."""
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def referenced_files(folder: Path) -> list[Path]:
    """The files a kustomization and the ones it includes name, itself included."""
    found = [folder / "kustomization.yaml"]
    kustomization = _yaml().load((folder / "kustomization.yaml").read_text())
    for entry in [*kustomization.get("resources", []), *kustomization.get("components", [])]:
        target = (folder / entry).resolve()
        found += referenced_files(target) if target.is_dir() else [target]
    for patch in kustomization.get("patches", []):
        found.append((folder / patch["path"]).resolve())
    return found
