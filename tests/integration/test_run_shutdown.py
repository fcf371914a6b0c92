"""A real `reconciler run` stopped by SIGTERM hangs up on every server it used before it says
it stopped, and exits 0.

Its gates and dev's `http` live source are a loopback HTTP server (keep-alive); staging's
live source is a fake Kubernetes API server and prod's a fake Argo CD, both watched; a
webhook delivery is forwarded to a peer (`--peers`). Which end closed a connection, and
when, is read from the kernel's socket table: an end the daemon closed itself is in FIN_WAIT
or TIME_WAIT at once, while one it never closed stays ESTABLISHED until the process exits.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.webhooks import FORWARD_PATH
from tests.integration.runproc import GENEROUS, DaemonProcess, config_repo
from tests.servers.argocd_api import FakeArgoCD, application
from tests.servers.argocd_api import serve as serve_argocd
from tests.servers.endpoints import Endpoints, reply, reply_json, serve
from tests.servers.github_sim import webhooks
from tests.servers.kubernetes_api import FakeCluster, deployment, pod, write_kubeconfig
from tests.servers.kubernetes_api import serve as serve_cluster

APP = "order-gateway"
IMAGE = "418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway"
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
TOKEN = "k8s-token-5d1c"
ARGOCD_TOKEN = "argocd-token-41e0"
SECRET = b"webhook-secret-7a2f"
TCP_TABLE = Path("/proc/net/tcp")
# The states of a socket whose own end is still open (linux/include/net/tcp_states.h).
STILL_OPEN = {"01": "ESTABLISHED", "08": "CLOSE_WAIT"}

WATCHED = """\
[live.staging]
kind = "kubernetes"
namespace = "staging"
workload = "deployment/{app}"

[live.prod]
kind = "argocd"
server = "%s"
token_env = "ARGOCD_TOKEN"
"""


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    """Gates that pass, and dev's version: DIGEST."""
    with serve() as found:
        found.routes[f"/dev/{APP}/version"] = reply_json({"digest": DIGEST})
        for env in ("dev", "staging"):
            for gate in ("healthz", "smoke"):
                found.routes[f"/{env}/{APP}/{gate}"] = reply_json({"status": "ok"})
        yield found


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    """Staging runs OTHER."""
    started = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with serve_cluster(TOKEN) as running:
        running.add(
            deployment(APP, "staging", {APP: f"{IMAGE}:1.4.0"}, replicas=1),
            pod(
                f"{APP}-1",
                "staging",
                {"app": APP},
                APP,
                f"{IMAGE}:1.4.0",
                f"{IMAGE}@{OTHER}",
                started,
            ),
        )
        yield running


@pytest.fixture
def argocd() -> Iterator[FakeArgoCD]:
    """Prod runs OTHER."""
    with serve_argocd(ARGOCD_TOKEN) as running:
        running.add(application(f"{APP}-prod", [f"{IMAGE}@{OTHER}"]))
        yield running


@pytest.fixture
def peer() -> Iterator[Endpoints]:
    """Another replica, taking forwarded deliveries."""
    with serve() as found:
        found.routes[FORWARD_PATH] = reply(202)
        yield found


def daemon_ends(port: int) -> list[str]:
    """The states of the daemon's ends of its connections to 127.0.0.1:``port``."""
    wanted = f"0100007F:{port:04X}"  # the remote address, as /proc/net/tcp writes it
    rows = (line.split() for line in TCP_TABLE.read_text().splitlines()[1:])
    return [row[3] for row in rows if row[2] == wanted]


def test_sigterm_hangs_up_on_gates_and_watched_live_sources_before_stopped_and_exits_0(
    tmp_path: Path,
    endpoints: Endpoints,
    cluster: FakeCluster,
    argocd: FakeArgoCD,
    peer: Endpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not TCP_TABLE.is_file():
        pytest.skip("the kernel's socket table is read from /proc/net/tcp (Linux)")
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"fake": (cluster.url, TOKEN)})
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("ARGOCD_TOKEN", ARGOCD_TOKEN)
    repo = config_repo(
        tmp_path / "config.git",
        endpoints.url(""),
        lambda policy: policy.split("[live.staging]")[0] + WATCHED % argocd.url,
        pins={"dev": DIGEST, "staging": OTHER},
    )
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    ports = {
        "gates": endpoints.port,
        "kubernetes": cluster.port,
        "argocd": argocd.port,
        "peer": peer.port,
    }
    daemon = DaemonProcess(
        "run",
        repo,
        tmp_path / "cache",
        *("--webhook-secret-file", str(tmp_path / "secret"), "--peers", peer.url("")),
    )
    try:
        body = webhooks.example("push")
        assert daemon.post("/webhook", body, webhooks.delivery("push", body, SECRET))[0] == 202
        with peer.served:
            assert peer.served.wait_for(lambda: peer.served_count >= 1, GENEROUS), daemon.text()
        with endpoints.served:
            assert endpoints.served.wait_for(
                lambda: any(r.path.endswith("/healthz") for r in endpoints.received), GENEROUS
            ), daemon.text()
        history = cluster.history
        with history.changed:  # deployments and pods: one watch each
            assert history.changed.wait_for(lambda: history.streams >= 2, GENEROUS), daemon.text()
        with argocd.lock:  # opened from the second read on
            assert argocd.lock.wait_for(lambda: argocd.streams >= 1, GENEROUS), daemon.text()
        held = {server: daemon_ends(port) for server, port in ports.items()}
        assert all("01" in states for states in held.values()), held

        daemon.signal(signal.SIGTERM)
        stopped = daemon.wait_for(lambda r: r.get("event") == "stopped", "the stopped line")
        left = {server: daemon_ends(port) for server, port in ports.items()}
        assert daemon.finish() == 0, daemon.text()
    finally:
        daemon.stop()
    assert stopped["reason"] == "SIGTERM"
    still_open = {
        server: [STILL_OPEN[state] for state in states if state in STILL_OPEN]
        for server, states in left.items()
    }
    assert still_open == {"gates": [], "kubernetes": [], "argocd": [], "peer": []}, left
    assert "Traceback" not in daemon.text()
