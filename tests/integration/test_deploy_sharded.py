"""The sharded installation (deploy/kustomize/overlays/sharded, components/sharded).

test_deploy_manifests.py renders and validates it with the other overlays (kubernetes-
validate, security context, probes, image pin). Here: what sharding adds. COUNT equals the
replica count, each pod's INDEX comes from the downward API before RECONCILER_SHARD uses
it, the pod is the Deployment's pod apart from those variables, every shard is scraped
once, and each pod can forward webhook deliveries to every other one by its stable name:
all of it on what the real ``kustomize build`` renders (tests/kustomize.py).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from reconciler.shards import Shard, parse_shard, peer_urls
from tests.conftest import ROOT
from tests.kustomize import CLUSTER_SCOPED, build, one

KUSTOMIZE = ROOT / "deploy/kustomize"
SHARDED = KUSTOMIZE / "overlays/sharded"
EXAMPLE = KUSTOMIZE / "overlays/example"
# The only variables sharding adds to the pod; everything else must stay the Deployment's.
SHARD_VARIABLES = ("POD_INDEX", "RECONCILER_SHARD", "RECONCILER_PEERS")
POD_INDEX_FIELD = "metadata.labels['apps.kubernetes.io/pod-index']"
_REFERENCE = re.compile(r"\$\((\w+)\)")


def statefulset() -> dict[str, Any]:
    objects = build(SHARDED)
    assert not [o for o in objects if o["kind"] == "Deployment"], "the Deployment is replaced"
    return one(objects, "StatefulSet")


def env_list(workload_obj: dict[str, Any]) -> list[dict[str, Any]]:
    (container,) = workload_obj["spec"]["template"]["spec"]["containers"]
    return list(container["env"])


def expand(value: str, defined: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: only variables defined earlier in the list expand."""
    return _REFERENCE.sub(lambda m: defined.get(m[1], m[0]), value)


def test_count_in_reconciler_shard_is_the_replica_count() -> None:
    sts = statefulset()
    replicas = sts["spec"]["replicas"]
    assert replicas > 1
    (shard,) = [e["value"] for e in env_list(sts) if e["name"] == "RECONCILER_SHARD"]
    # Every pod the StatefulSet makes gets a shard the daemon accepts, and together they
    # are all the shards of COUNT: no app is left without a replica.
    shards = [parse_shard(expand(shard, {"POD_INDEX": str(i)})) for i in range(replicas)]
    assert {(s.index, s.count) for s in shards} == {(i, replicas) for i in range(replicas)}


def test_shard_expands_a_downward_api_index_defined_before_it() -> None:
    env = env_list(statefulset())
    names = [e["name"] for e in env]
    assert len(names) == len(set(names))
    at = names.index("RECONCILER_SHARD")
    referenced = _REFERENCE.findall(env[at]["value"])
    assert referenced == ["POD_INDEX"]
    index = env[names.index("POD_INDEX")]
    assert names.index("POD_INDEX") < at, "$(POD_INDEX) expands only if defined earlier"
    assert index["valueFrom"] == {"fieldRef": {"fieldPath": POD_INDEX_FIELD}}


def test_statefulset_shape() -> None:
    objects = build(SHARDED)
    sts = one(objects, "StatefulSet")
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (governing,) = [o for o in objects if o["metadata"]["name"] == sts["spec"]["serviceName"]]
    assert governing["kind"] == "Service"
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"].items() <= pod_labels.items()
    # Each pod clones into a volume of its own: shards share no cache.
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["cache"]
    assert "volumeClaimTemplates" not in sts["spec"]


def pod_without_sharding(obj: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = copy.deepcopy(obj["spec"]["template"])
    for container in template["spec"]["containers"]:
        container["env"] = [e for e in container["env"] if e["name"] not in SHARD_VARIABLES]
    return template


def test_pod_is_the_deployments_apart_from_the_shard_variables() -> None:
    sts = statefulset()
    deployment = one(build(EXAMPLE), "Deployment")
    assert pod_without_sharding(sts) == deployment["spec"]["template"]
    assert sts["metadata"]["namespace"] == deployment["metadata"]["namespace"]


def test_every_namespaced_object_is_in_the_overlays_namespace() -> None:
    objects = build(SHARDED)
    namespaced = [o for o in objects if o["kind"] not in CLUSTER_SCOPED]
    namespaces = {o["metadata"].get("namespace") for o in namespaced}
    assert namespaces == {"reconciler"}


def test_every_shard_is_scraped_once() -> None:
    objects = build(SHARDED)
    pod_labels = one(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        o
        for o in objects
        if o["kind"] == "Service" and selector.items() <= o["metadata"].get("labels", {}).items()
    ]
    # One Service, selecting every pod of the StatefulSet: Prometheus scrapes its endpoints,
    # one target per shard. A second matching Service would scrape each shard twice.
    assert len(scraped) == 1
    assert scraped[0]["spec"]["selector"].items() <= pod_labels.items()


def test_each_pod_forwards_webhooks_to_every_other_pod_by_its_stable_name() -> None:
    objects = build(SHARDED)
    sts = one(objects, "StatefulSet")
    replicas, name = sts["spec"]["replicas"], sts["metadata"]["name"]
    (spec,) = [e["value"] for e in env_list(sts) if e["name"] == "RECONCILER_PEERS"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    (port,) = [p["containerPort"] for p in container["ports"]]
    service = sts["spec"]["serviceName"]
    # Pod N is NAME-N; POD.SERVICE resolves in the pod's own namespace.
    names = [f"http://{name}-{i}.{service}:{port}" for i in range(replicas)]
    for index in range(replicas):
        peers = peer_urls(spec, Shard(index, replicas))
        assert peers == tuple(n for i, n in enumerate(names) if i != index)
    (governing,) = [o for o in objects if o["metadata"]["name"] == service]
    # A pod not ready yet (cloning, or an invalid policy the push may fix) still has a name.
    assert governing["spec"]["publishNotReadyAddresses"] is True


def test_network_policy_lets_the_pods_reach_each_others_port() -> None:
    objects = build(SHARDED)
    sts = one(objects, "StatefulSet")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    (port,) = [p["containerPort"] for p in container["ports"]]

    def admitted(direction: str, side: str) -> bool:
        return any(
            peer.keys() == {"podSelector"}
            and peer["podSelector"]["matchLabels"].items() <= pod_labels.items()
            and rule["ports"] == [{"port": port, "protocol": "TCP"}]
            for policy in objects
            if policy["kind"] == "NetworkPolicy"
            and policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
            for rule in policy["spec"].get(direction, [])
            for peer in rule.get(side, [])
        )

    assert admitted("ingress", "from")
    assert admitted("egress", "to")
