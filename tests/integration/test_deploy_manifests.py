"""The Kubernetes manifests of the daemon (deploy/kustomize/) and the dogfood config repo.

Each folder is rendered by the real ``kustomize build`` (tests/kustomize.py: the binary
tools/package-lock.json pins; .ci/run installs it). Every rendered object of a core kind
goes through the real ``kubernetes-validate --strict`` on the oldest and newest
Kubernetes versions checked. ServiceMonitor and PrometheusRule are CRDs that
kubernetes-validate has no schema for: their shape is checked against the minimal JSON
Schemas written here (apiVersion, kind, the spec fields the Prometheus Operator needs).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT, need
from tests.kustomize import (
    build,
    containers,
    env_of,
    image_name,
    one,
    referenced_files,
    workload,
)

KUSTOMIZE = ROOT / "deploy/kustomize"
BASE = KUSTOMIZE / "base"
EXAMPLE = KUSTOMIZE / "overlays/example"
SHARDED = KUSTOMIZE / "overlays/sharded"
DOGFOOD = ROOT / "promotion-policies/examples/reconciler-dogfood"
VALIDATE = Path(sys.executable).with_name("kubernetes-validate")
# The oldest Kubernetes still commonly run, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.29.0", "1.37.0")
IMAGE = "ghcr.io/example/reconciler"
PORT = 9464

RENDERS = {
    "base": BASE,
    "example": EXAMPLE,
    "sharded": SHARDED,
    "dogfood-dev": DOGFOOD / "overlays/dev",
    "dogfood-staging": DOGFOOD / "overlays/staging",
    "dogfood-prod": DOGFOOD / "overlays/prod",
}
OVERLAYS = {name: path for name, path in RENDERS.items() if name != "base"}

# -- the CRD kinds kubernetes-validate cannot know ------------------------------------------

_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}},
}
_DURATION = {"type": "string", "pattern": r"^((\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$"}
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "ServiceMonitor"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {
                        "type": "object",
                        "required": ["matchLabels"],
                        "properties": {"matchLabels": {"type": "object", "minProperties": 1}},
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port"],
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string", "pattern": "^/"},
                                "interval": _DURATION,
                            },
                        },
                    },
                },
            },
        },
    },
    "PrometheusRule": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["expr"],
                                        "oneOf": [
                                            {"required": ["record"]},
                                            {"required": ["alert"]},
                                        ],
                                        "additionalProperties": False,
                                        "properties": {
                                            "record": {"type": "string"},
                                            "alert": {"type": "string"},
                                            "expr": {"type": "string", "minLength": 1},
                                            "for": _DURATION,
                                            "labels": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                            "annotations": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


def kubernetes_validate(files: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    """The real kubernetes-validate, strict: unknown fields are errors."""
    need(VALIDATE.is_file(), "kubernetes-validate (PyPI, in the dev extra)")
    return subprocess.run(
        [str(VALIDATE), "--strict", "-k", version, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", RENDERS)
def test_every_rendered_object_validates(name: str, version: str, tmp_path: Path) -> None:
    objects = build(RENDERS[name])
    core = [o for o in objects if o["kind"] not in CRD_SCHEMAS]
    files = []
    for index, obj in enumerate(core):
        path = tmp_path / f"{index:02d}-{obj['kind'].lower()}.yaml"
        YAML(typ="safe").dump(obj, path)
        files.append(path)
    result = kubernetes_validate(files, version)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    # A kind without a schema is only a warning there: here it must not pass unseen.
    assert "WARN" not in out, out
    assert out.count(" passed for resource ") == len(core), out
    for obj in objects:
        if obj["kind"] in CRD_SCHEMAS:
            jsonschema.validate(obj, CRD_SCHEMAS[obj["kind"]])


def test_kubernetes_validate_rejects_what_strict_mode_should(tmp_path: Path) -> None:
    deployment = copy.deepcopy(one(build(EXAMPLE), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] = (
        "/healthz"
    )
    path = tmp_path / "deployment.yaml"
    YAML(typ="safe").dump(deployment, path)
    result = kubernetes_validate([path], K8S_VERSIONS[-1])
    assert result.returncode != 0
    assert "pth" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("kind", "breakage"),
    [
        ("ServiceMonitor", lambda o: o["spec"].pop("endpoints")),
        ("ServiceMonitor", lambda o: o.update(apiVersion="monitoring.coreos.com/v1beta1")),
        ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].pop("expr")),
        ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].update(fr="5m")),
    ],
)
def test_crd_schemas_reject_broken_shapes(kind: str, breakage: Any) -> None:
    obj = copy.deepcopy(one(build(BASE), kind))
    jsonschema.validate(obj, CRD_SCHEMAS[kind])
    breakage(obj)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, CRD_SCHEMAS[kind])


@pytest.mark.parametrize("tree", [KUSTOMIZE, DOGFOOD], ids=["deploy", "dogfood"])
def test_every_manifest_is_rendered_somewhere(tree: Path) -> None:
    used = {p.resolve() for folder in RENDERS.values() for p in referenced_files(folder)}
    on_disk = {p.resolve() for p in tree.rglob("*.yaml")}
    assert on_disk - used == set(), "manifests no kustomization uses are never validated"


@pytest.mark.parametrize("name", RENDERS)
def test_security_context_promises(name: str) -> None:
    deployment = workload(build(RENDERS[name]))
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in containers(deployment):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "add" not in context["capabilities"]
        assert context.get("privileged", False) is False
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("name", RENDERS)
def test_writable_paths_are_volumes_and_the_secret_is_read_only(name: str) -> None:
    objects = build(RENDERS[name])
    assert not [o for o in objects if o["kind"] == "Secret"], "the Secret is never committed"
    deployment = workload(objects)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    env = env_of(container)
    for path in ("/tmp", env["RECONCILER_CACHE_DIR"]):
        assert "emptyDir" in volumes[mounts[path]["name"]]
    secret_mount = mounts["/var/run/secrets/reconciler"]
    assert secret_mount["readOnly"] is True
    assert volumes[secret_mount["name"]]["secret"]["secretName"] == "reconciler"
    for variable in ("RECONCILER_GITHUB_TOKEN_FILE", "RECONCILER_WEBHOOK_SECRET_FILE"):
        assert env[variable].startswith("/var/run/secrets/reconciler/")


@pytest.mark.parametrize("name", RENDERS)
def test_probes_listen_and_service_agree_on_the_port(name: str) -> None:
    objects = build(RENDERS[name])
    deployment = workload(objects)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http-metrics": PORT}
    assert env_of(container)["RECONCILER_LISTEN"] == f"0.0.0.0:{PORT}"
    # `reconciler status` run in the pod (kubectl exec) asks this daemon, on loopback.
    assert env_of(container)["RECONCILER_DAEMON"] == f"127.0.0.1:{PORT}"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path
        assert ports.get(http["port"], http["port"]) == PORT
    # The Service Prometheus and the webhook use (a sharded render adds a headless one).
    (service,) = [o for o in objects if o["kind"] == "Service" and "clusterIP" not in o["spec"]]
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": PORT, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    for monitor in monitors:
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http-metrics"]


@pytest.mark.parametrize("name", RENDERS)
def test_daemon_settings(name: str) -> None:
    deployment = workload(build(RENDERS[name]))
    # A StatefulSet runs shards, with its own replica count (test_deploy_sharded.py).
    assert deployment["kind"] == "StatefulSet" or deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is False  # else RECONCILER_PORT_* leak into settings
    (container,) = pod["containers"]
    env = env_of(container)
    assert env["RECONCILER_FORGE"] == "github"
    assert env["RECONCILER_LOG_FORMAT"] == "json"
    assert env["RECONCILER_CACHE_DIR"] == "/var/cache/reconciler"
    owner_name = env["RECONCILER_GITHUB_REPO"]
    assert env["RECONCILER_REPO"] == f"https://github.com/{owner_name}.git"
    assert container["args"] == ["run"]


def test_example_overlay_patches_only_the_config_repo() -> None:
    base_env = env_of(one(build(BASE), "Deployment")["spec"]["template"]["spec"]["containers"][0])
    example = one(build(EXAMPLE), "Deployment")
    example_env = env_of(example["spec"]["template"]["spec"]["containers"][0])
    changed = {k for k in base_env if example_env[k] != base_env[k]}
    assert changed == {"RECONCILER_REPO", "RECONCILER_GITHUB_REPO"}
    assert example_env.keys() == base_env.keys()
    assert example["metadata"]["namespace"] == "reconciler"


@pytest.mark.parametrize("name", RENDERS)
def test_image_is_pinned_by_digest(name: str) -> None:
    deployment = workload(build(RENDERS[name]))
    for container in containers(deployment):
        repository, _, digest = container["image"].partition("@")
        assert image_name(repository) == IMAGE
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), container["image"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_set_image_moves_the_overlay_pin(name: str, tmp_path: Path) -> None:
    source = OVERLAYS[name].parents[1]
    copy_root = tmp_path / "tree"
    shutil.copytree(source, copy_root)
    overlay = copy_root / OVERLAYS[name].relative_to(source)
    digest = "sha256:" + "ab" * 32
    exe = Path(sys.executable).with_name("reconciler")
    result = subprocess.run(
        [str(exe), "set-image", "--dir", str(overlay), f"{IMAGE}={IMAGE}:v2@{digest}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (container,) = containers(workload(build(overlay)))
    assert container["image"] == f"{IMAGE}:v2@{digest}"


def rbac_rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every rule of every Role and ClusterRole."""
    return [r for o in objects if o["kind"] in ("Role", "ClusterRole") for r in o["rules"]]


@pytest.mark.parametrize("name", ["base", "example", "sharded", "dogfood-prod"])
def test_rbac_is_read_only_and_bound_to_the_daemon(name: str) -> None:
    objects = build(RENDERS[name])
    rules = rbac_rules(objects)
    granted = {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    reads = {("apps", r) for r in ("deployments", "statefulsets", "daemonsets")} | {("", "pods")}
    assert granted == {(g, r, v) for g, r in reads for v in ("get", "list", "watch")}
    deployment = workload(objects)
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    namespace = deployment["metadata"].get("namespace", "default")
    roles = {o["metadata"]["name"] for o in objects if o["kind"] == "ClusterRole"}
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] in roles
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    ]


@pytest.mark.parametrize("name", ["dogfood-dev", "dogfood-staging"])
def test_dogfood_canaries_get_no_cluster_access(name: str) -> None:
    objects = build(RENDERS[name])
    assert not [o for o in objects if "Role" in o["kind"]]


def test_dogfood_instances_do_not_collide() -> None:
    seen: dict[tuple[str, str, str], str] = {}
    for name in ("dogfood-dev", "dogfood-staging", "dogfood-prod"):
        for obj in build(RENDERS[name]):
            key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            assert key not in seen, f"{name} and {seen.get(key)} both define {key}"
            seen[key] = name


def test_network_policy_admits_only_the_daemon_port() -> None:
    objects = build(EXAMPLE)
    policy = one(objects, "NetworkPolicy")
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    sources = set()
    for rule in policy["spec"]["ingress"]:
        assert rule["ports"] == [{"port": PORT, "protocol": "TCP"}]
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector"}
            sources.add(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
    assert sources == {"monitoring", "ingress-nginx"}
    egress_ports = {
        (p["port"], p["protocol"]) for r in policy["spec"]["egress"] for p in r["ports"]
    }
    assert egress_ports == {(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP")}
    ingress = one(objects, "Ingress")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/webhook", "Exact")]
