"""The `kubernetes` live source through the official client against a fake API server.

No cluster can run here, so tests/servers/kubernetes_api.py answers the client's calls with
objects in the real API's shape; the reader finds the server through a kubeconfig file
written by each test, as it would in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler import units
from reconciler.live.kubernetes import NO_DIGEST_YET, KubernetesLiveReader
from reconciler.live.kubernetes.workloads import image_digest
from reconciler.live.port import LiveReader
from reconciler.policy.model import KubernetesLive
from reconciler.snapshot import LiveState
from tests.ports import free_port
from tests.servers.kubernetes_api import (
    FakeCluster,
    daemonset,
    deployment,
    pod,
    serve,
    statefulset,
    write_kubeconfig,
)

TOKEN = "k8s-token-0b9e7f1c2d"
REPO = "registry.example.com/shop/gw"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
NS = "staging"
IMAGES = {"gw": REPO}

# The reader satisfies the live-source port (checked by mypy).
_PORT: LiveReader = KubernetesLiveReader(
    KubernetesLive(env="staging", kind="kubernetes", namespace=NS), IMAGES
)


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with serve(TOKEN) as running:
        yield running


@pytest.fixture
def kubeconfig(cluster: FakeCluster, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "config", {"fake": (cluster.url, TOKEN)})


def source(
    workload: str = "deployment/{app}", container: str | None = None, context: str | None = None
) -> KubernetesLive:
    return KubernetesLive(
        env="staging",
        kind="kubernetes",
        namespace=NS,
        workload=workload,
        container=container,
        context=context,
    )


def read(
    kubeconfig: Path,
    app: str = "gw",
    *,
    workload: str = "deployment/{app}",
    container: str | None = None,
    context: str | None = None,
    timeout: timedelta = timedelta(seconds=10),
) -> LiveState:
    reader = KubernetesLiveReader(
        source(workload, container, context), IMAGES, kubeconfig=kubeconfig, timeout=timeout
    )
    try:
        return reader.read([(app, "staging")])[(app, "staging")]
    finally:
        reader.close()


def gw_pod(
    index: int,
    digest: str,
    started: datetime | None,
    *,
    tag: str = "1.4.0",
    extra: dict[str, tuple[str, str]] | None = None,
    phase: str = "Running",
    deleting: bool = False,
) -> dict[str, Any]:
    """A pod of gw's workload running ``digest`` ("": not pulled yet) since ``started``."""
    image_id = f"{REPO}@{digest}" if digest else ""
    return pod(
        f"gw-7d9f8-{index}",
        NS,
        {"app": "gw"},
        "gw",
        f"{REPO}:{tag}",
        image_id,
        started,
        extra=extra,
        phase=phase,
        deleting=deleting,
    )


def test_steady_deployment_reports_its_digest_since_the_first_pod_started(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}@{D1}"}),
        gw_pod(1, D1, T0 - timedelta(hours=2)),
        gw_pod(2, D1, T0 - timedelta(hours=3)),
        gw_pod(3, D1, T0 - timedelta(hours=1)),
    )
    assert read(kubeconfig) == LiveState(D1, T0 - timedelta(hours=3))
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in cluster.requests)
    assert {method for method, _, _ in cluster.requests} == {"GET"}


def test_a_restarted_reader_reports_the_same_since(cluster: FakeCluster, kubeconfig: Path) -> None:
    cluster.add(deployment("gw", NS, {"gw": f"{REPO}:1.4.0"}), gw_pod(1, D1, T0))
    first, again = read(kubeconfig), read(kubeconfig)
    assert first == again == LiveState(D1, T0)


def test_docker_pullable_image_ids_give_the_digest(cluster: FakeCluster, kubeconfig: Path) -> None:
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}:1.4.0"}, replicas=1),
        pod("gw-1", NS, {"app": "gw"}, "gw", REPO, f"docker-pullable://{REPO}@{D1}", T0),
    )
    assert read(kubeconfig) == LiveState(D1, T0)


def test_rollout_in_progress_is_rolling_on_the_spec_digest(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}@{D2}"}, updated=1, total=4),
        gw_pod(1, D1, T0 - timedelta(hours=3)),
        gw_pod(2, D1, T0 - timedelta(hours=3)),
        gw_pod(3, D1, T0 - timedelta(hours=3)),
        gw_pod(4, D2, T0),
    )
    state = read(kubeconfig)
    assert (state.digest, state.rolling, state.error) == (D2, True, None)


def test_rollout_of_a_tag_is_rolling_on_the_digest_most_pods_run(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}:1.5.0"}, updated=2, total=3),
        gw_pod(1, D1, T0 - timedelta(hours=3)),
        gw_pod(2, D2, T0, tag="1.5.0"),
        gw_pod(3, D2, T0, tag="1.5.0"),
    )
    state = read(kubeconfig)
    assert (state.digest, state.rolling) == (D2, True)


def test_new_spec_not_yet_on_any_pod_is_rolling(cluster: FakeCluster, kubeconfig: Path) -> None:
    # The controller has not observed the new generation yet: every pod is still on D1.
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}:1.5.0"}, generation=3, observed=2),
        gw_pod(1, D1, T0),
    )
    state = read(kubeconfig)
    assert (state.digest, state.rolling) == (D1, True)


def test_terminating_pods_of_the_old_version_are_not_counted(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}@{D2}"}, replicas=1),
        gw_pod(1, D1, T0 - timedelta(hours=3), deleting=True),
        gw_pod(2, D2, T0),
    )
    assert read(kubeconfig) == LiveState(D2, T0)


def test_set_based_selector_leaves_out_other_pods(cluster: FakeCluster, kubeconfig: Path) -> None:
    selector = {
        "matchLabels": {"app": "gw"},
        "matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}],
    }
    canary = pod(
        "gw-canary-1", NS, {"app": "gw", "track": "canary"}, "gw", REPO, f"{REPO}@{D2}", T0
    )
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}:1.4.0"}, replicas=1, selector=selector),
        gw_pod(1, D1, T0 - timedelta(hours=1)),
        canary,
    )
    assert read(kubeconfig) == LiveState(D1, T0 - timedelta(hours=1))


def test_no_pod_with_an_image_id_yet_is_an_error(cluster: FakeCluster, kubeconfig: Path) -> None:
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}@{D1}"}, replicas=2),
        gw_pod(1, "", None, phase="Pending"),
        gw_pod(2, "", None, phase="Pending"),
    )
    assert read(kubeconfig) == LiveState(None, error=NO_DIGEST_YET)


def test_a_new_pod_without_image_id_does_not_hide_the_others(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    # Scaled from 2 to 3: the third pod is still pulling; what runs is known.
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}@{D1}"}),
        gw_pod(1, D1, T0),
        gw_pod(2, D1, T0 + timedelta(minutes=1)),
        gw_pod(3, "", None, phase="Pending"),
    )
    assert read(kubeconfig) == LiveState(D1, T0)


def test_statefulset(cluster: FakeCluster, kubeconfig: Path) -> None:
    cluster.add(
        statefulset("gw", NS, {"gw": f"{REPO}:1.4.0"}),
        gw_pod(0, D1, T0),
        gw_pod(1, D1, T0 + timedelta(minutes=2)),
    )
    assert read(kubeconfig, workload="statefulset/{app}") == LiveState(D1, T0)


def test_statefulset_between_revisions_is_rolling(cluster: FakeCluster, kubeconfig: Path) -> None:
    cluster.add(
        statefulset("gw", NS, {"gw": f"{REPO}:1.5.0"}, update_revision="rev-2"),
        gw_pod(0, D1, T0),
        gw_pod(1, D2, T0, tag="1.5.0"),
    )
    state = read(kubeconfig, workload="sts/{app}")
    assert state.rolling
    assert state.digest in (D1, D2)


def test_daemonset_with_a_sidecar(cluster: FakeCluster, kubeconfig: Path) -> None:
    proxy = "docker.io/envoyproxy/envoy:v1.31.0"
    proxy_id = f"docker.io/envoyproxy/envoy@sha256:{'e' * 64}"
    cluster.add(
        daemonset("gw", NS, {"proxy": proxy, "gw": f"{REPO}:1.4.0"}),
        gw_pod(1, D1, T0, extra={"proxy": (proxy, proxy_id)}),
        gw_pod(2, D1, T0, extra={"proxy": (proxy, proxy_id)}),
    )
    assert read(kubeconfig, workload="daemonset/{app}") == LiveState(D1, T0)


def test_named_container_wins_over_the_image_match(cluster: FakeCluster, kubeconfig: Path) -> None:
    proxy = "docker.io/envoyproxy/envoy:v1.31.0"
    proxy_digest = "sha256:" + "e" * 64
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}:1.4.0", "proxy": proxy}, replicas=1),
        gw_pod(1, D1, T0, extra={"proxy": (proxy, f"envoyproxy/envoy@{proxy_digest}")}),
    )
    assert read(kubeconfig, container="proxy").digest == proxy_digest
    missing = read(kubeconfig, container="web")
    assert missing.digest is None
    assert missing.error == (
        "deployment/gw has no container 'web' (it has gw, proxy); fix container in [live.staging]"
    )


def test_no_container_runs_the_apps_image(cluster: FakeCluster, kubeconfig: Path) -> None:
    cluster.add(deployment("gw", NS, {"web": "docker.io/library/nginx:1.27"}), gw_pod(1, D1, T0))
    state = read(kubeconfig)
    assert state.digest is None
    assert state.error is not None
    assert "no container of deployment/gw runs registry.example.com/shop/gw" in state.error
    assert "set container in [live.staging]" in state.error


def test_forbidden_workload_names_the_missing_permission(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    cluster.forbid("list", "deployments", NS)
    state = read(kubeconfig)
    assert state.digest is None
    assert state.error is not None
    assert state.error.startswith(
        "Kubernetes RBAC forbids list on deployments.apps in namespace 'staging' (403)"
    )


def test_forbidden_pods_names_the_missing_permission(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    cluster.add(deployment("gw", NS, {"gw": f"{REPO}@{D1}"}))
    cluster.forbid("list", "pods", NS)
    state = read(kubeconfig)
    assert state.error is not None
    assert state.error == (
        "Kubernetes RBAC forbids list on pods in namespace 'staging' (403): grant the "
        "reconciler's identity list and watch on deployments.apps, statefulsets.apps, "
        "daemonsets.apps and pods in that namespace (a read-only Role)"
    )


def test_missing_workload_is_named(cluster: FakeCluster, kubeconfig: Path) -> None:
    state = read(kubeconfig, app="checkout")
    assert state == LiveState(
        None,
        error="deployment 'checkout' not found in namespace 'staging' (404): check workload "
        "and namespace in the live source",
    )


def test_a_wrong_token_is_an_error_that_shows_no_token(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    wrong = "not-the-token-5e6f"
    config = write_kubeconfig(tmp_path / "config", {"fake": (cluster.url, wrong)})
    reader = KubernetesLiveReader(source(), IMAGES, kubeconfig=config)
    state = reader.read([("gw", "staging")])[("gw", "staging")]
    assert state.digest is None
    assert state.error is not None
    assert "rejected the credentials (401)" in state.error
    assert wrong not in state.error
    assert wrong not in repr(reader)


def test_errors_are_per_app(cluster: FakeCluster, kubeconfig: Path) -> None:
    cluster.add(deployment("gw", NS, {"gw": f"{REPO}@{D1}"}), gw_pod(1, D1, T0))
    reader = KubernetesLiveReader(source(), {"gw": REPO, "cart": REPO}, kubeconfig=kubeconfig)
    states = reader.read([("gw", "staging"), ("cart", "staging")])
    assert states[("gw", "staging")] == LiveState(D1, T0)
    assert states[("cart", "staging")].error is not None
    assert "not found" in states[("cart", "staging")].error


def test_the_policy_context_selects_the_cluster(cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.add(deployment("gw", NS, {"gw": f"{REPO}@{D1}"}), gw_pod(1, D1, T0))
    config = write_kubeconfig(
        tmp_path / "config",
        {"elsewhere": (f"http://127.0.0.1:{closed_port()}", "x"), "fake": (cluster.url, TOKEN)},
        current="elsewhere",
    )
    assert read(config, context="fake") == LiveState(D1, T0)
    missing = read(config, context="nope")
    assert missing.error is not None
    assert missing.error.startswith(f"cannot use the kubeconfig {config} (context 'nope')")


def test_unreachable_api_server_is_an_error(tmp_path: Path) -> None:
    config = write_kubeconfig(
        tmp_path / "config", {"gone": (f"http://127.0.0.1:{closed_port()}", TOKEN)}
    )
    state = read(config)
    assert state.digest is None
    assert state.error is not None
    assert state.error.startswith("cannot reach the Kubernetes API at http://127.0.0.1:")
    assert TOKEN not in state.error


def test_an_api_server_that_does_not_answer_is_an_error(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    cluster.stalled = True
    state = read(kubeconfig, timeout=timedelta(milliseconds=300))
    assert state == LiveState(
        None, error=f"no answer from the Kubernetes API at {cluster.url} within 0.3s"
    )


def test_missing_kubeconfig_says_what_to_do(tmp_path: Path) -> None:
    state = read(tmp_path / "absent")
    assert state.error is not None
    assert state.error.startswith("no Kubernetes credentials: not running in a cluster")
    assert "set KUBECONFIG" in state.error


def test_a_workload_of_another_kind_is_refused(kubeconfig: Path) -> None:
    state = read(kubeconfig, workload="cronjob/{app}")
    assert state.error == (
        "workload 'cronjob/gw' is not KIND/NAME with KIND deployment, statefulset or daemonset"
    )


def closed_port() -> int:
    return free_port()


S512 = "sha512:" + "5" * 128
PROXY = "docker.io/envoyproxy/envoy:v1.31.0"


@pytest.mark.parametrize(
    ("policy_image", "spec_image"),
    [
        ("nginx", "docker.io/nginx:1.27"),
        ("docker.io/library/nginx", "nginx:1.27"),
        ("index.docker.io/nginx", f"docker.io/library/nginx@{S512}"),
        ("docker.io/nginx", "index.docker.io/library/nginx:1.27"),
    ],
)
def test_docker_hub_names_match_in_their_normalised_form(
    cluster: FakeCluster, kubeconfig: Path, policy_image: str, spec_image: str
) -> None:
    # issue 18: docker.io/nginx is docker.io/library/nginx is nginx; the sidecar comes first
    # so that only the name picks the container.
    cluster.add(
        deployment("web", NS, {"proxy": PROXY, "web": spec_image}, replicas=1),
        pod(
            "web-1",
            NS,
            {"app": "web"},
            "web",
            spec_image,
            f"docker-pullable://docker.io/library/nginx@{S512}",
            T0,
            extra={"proxy": (PROXY, f"docker.io/envoyproxy/envoy@sha256:{'e' * 64}")},
        ),
    )
    reader = KubernetesLiveReader(source(), {"web": policy_image}, kubeconfig=kubeconfig)
    try:
        assert reader.read([("web", "staging")])[("web", "staging")] == LiveState(S512, T0)
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        (f"{REPO}@{D1}", D1),
        (f"docker-pullable://{REPO}@{D1}", D1),
        (f"{REPO}@{S512}", S512),
        (f"docker://{D1}", None),  # a local image ID, not what a registry holds
        (f"{REPO}@sha256:abc", None),  # not a digest
        (f"{REPO}@blake3:{'1' * 64}", None),  # an algorithm not accepted
        ("", None),
    ],
)
def test_the_digest_of_an_image_id(image_id: str, digest: str | None) -> None:
    assert image_digest(image_id) == digest


# -- an app of several images: each part's container, one unit -----------------------------
MIGRATE = "registry.example.com/shop/gw-migrations"


def read_unit(kubeconfig: Path) -> LiveState:
    reader = KubernetesLiveReader(
        source(), {}, kubeconfig=kubeconfig, units={"gw": {"api": REPO, "migrate": MIGRATE}}
    )
    try:
        return reader.read([("gw", "staging")])[("gw", "staging")]
    finally:
        reader.close()


def test_a_unit_runs_when_every_part_runs_its_digest(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    migrate = (f"{MIGRATE}:1.4.0", f"{MIGRATE}@{D2}")
    cluster.add(
        deployment("gw", NS, {"gw": f"{REPO}@{D1}", "migrate": f"{MIGRATE}@{D2}"}),
        gw_pod(1, D1, T0 - timedelta(hours=2), extra={"migrate": migrate}),
    )
    assert read_unit(kubeconfig) == LiveState(
        units.key({"api": D1, "migrate": D2}), T0 - timedelta(hours=2)
    )


def test_a_unit_with_a_part_not_running_runs_nothing(
    cluster: FakeCluster, kubeconfig: Path
) -> None:
    cluster.add(deployment("gw", NS, {"gw": f"{REPO}@{D1}"}), gw_pod(1, D1, T0))
    state = read_unit(kubeconfig)
    assert state.digest is None
    assert state.error is not None
    assert state.error.startswith(f"migrate: no container of deployment/gw runs {MIGRATE}")
