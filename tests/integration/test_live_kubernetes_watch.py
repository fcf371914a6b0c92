"""The `kubernetes` live source keeps its objects current through watches: the rules of
https://kubernetes.io/docs/reference/using-api/api-concepts/ ("Efficient detection of
changes", "Watch bookmarks", "Resource versions"), against the fake API server's streams."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from reconciler.live.kubernetes import KubernetesLiveReader
from reconciler.snapshot import LiveState
from tests.integration.test_live_kubernetes import (
    D1,
    D2,
    IMAGES,
    NS,
    REPO,
    T0,
    TOKEN,
    gw_pod,
    source,
)
from tests.servers.kubernetes_api import FakeCluster, deployment, serve, write_kubeconfig

GW = ("gw", "staging")
WATCHES = 2  # deployments and pods of the one namespace


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with serve(TOKEN) as running:
        running.add(deployment("gw", NS, {"gw": f"{REPO}:1.4.0"}, replicas=1), gw_pod(1, D1, T0))
        yield running


@pytest.fixture
def reader(cluster: FakeCluster, tmp_path: Path) -> Iterator[KubernetesLiveReader]:
    yield from watching(cluster, tmp_path, timedelta(seconds=30))


@pytest.fixture
def strict(cluster: FakeCluster, tmp_path: Path) -> Iterator[KubernetesLiveReader]:
    """A reader that serves nothing a watch does not keep current at the time of reading."""
    yield from watching(cluster, tmp_path, timedelta(0))


def watching(
    cluster: FakeCluster, tmp_path: Path, stale_after: timedelta
) -> Iterator[KubernetesLiveReader]:
    config = write_kubeconfig(tmp_path / "config", {"fake": (cluster.url, TOKEN)})
    opened = KubernetesLiveReader(source(), IMAGES, kubeconfig=config, stale_after=stale_after)
    yield opened
    opened.close()


def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for ``condition``, failing after ``seconds``."""
    deadline, pause = time.monotonic() + seconds, threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        pause.wait(0.01)


def watch_versions(cluster: FakeCluster) -> list[str]:
    """The resourceVersion each watch asked for, in order."""
    with cluster.lock:
        targets = [target for _, target, _ in cluster.requests if "watch=true" in target]
    return [parse_qs(urlsplit(t).query)["resourceVersion"][0] for t in targets]


def test_a_change_is_seen_without_a_list_and_idle_cycles_cost_no_request(
    cluster: FakeCluster, reader: KubernetesLiveReader
) -> None:
    assert reader.read([GW])[GW] == LiveState(D1, T0)
    until(lambda: cluster.history.streams == WATCHES)
    asked = len(cluster.requests)
    for _ in range(5):
        assert reader.read([GW])[GW] == LiveState(D1, T0)
    assert len(cluster.requests) == asked  # the watches keep the objects: nothing asked

    later = T0 + timedelta(hours=1)
    cluster.add(gw_pod(1, D2, later, tag="1.5.0"))
    until(lambda: reader.read([GW])[GW] == LiveState(D2, later))
    cluster.remove("Pod", NS, "gw-7d9f8-1")
    until(lambda: reader.read([GW])[GW].error is not None)
    assert (cluster.count(watch=False), len(cluster.requests)) == (WATCHES, asked)


def test_a_dropped_watch_resumes_from_the_last_bookmark(
    cluster: FakeCluster, reader: KubernetesLiveReader
) -> None:
    reader.read([GW])
    until(lambda: cluster.history.streams == WATCHES)
    cluster.add(deployment("other", "elsewhere", {"x": "x"}))  # moves the version on
    cluster.bookmark()  # "Watch bookmarks": the version reached, with no change of ours
    reached = str(cluster.history.revision)
    # Nothing the server sees tells that the bookmark arrived: the reader's own state does.
    informers = list(reader._informers.values())
    until(lambda: all(i._version == reached for i in informers))
    cluster.drop()
    until(lambda: cluster.count(watch=True) == 2 * WATCHES)
    assert watch_versions(cluster)[WATCHES:] == [reached, reached]
    assert cluster.count(watch=False) == WATCHES  # resumed, not listed again
    later = T0 + timedelta(minutes=5)
    cluster.add(gw_pod(1, D2, later, tag="1.5.0"))
    until(lambda: reader.read([GW])[GW] == LiveState(D2, later))


def test_a_watch_told_410_gone_lists_again(
    cluster: FakeCluster, reader: KubernetesLiveReader
) -> None:
    reader.read([GW])
    until(lambda: cluster.history.streams == WATCHES)
    stale = str(cluster.history.revision)
    for resource in ("pods", "deployments"):
        cluster.forbid("watch", resource, NS)  # kept away while the change happens
    cluster.drop()
    cluster.add(gw_pod(1, D2, T0, tag="1.5.0"))  # missed while disconnected: only a list tells
    cluster.compact()  # "Resource versions": the server no longer serves the old version
    with cluster.lock:
        cluster.forbidden.clear()
    until(lambda: cluster.count(watch=False) == 2 * WATCHES)
    until(lambda: reader.read([GW])[GW] == LiveState(D2, T0))
    assert stale in watch_versions(cluster)[WATCHES:]
    with cluster.lock:
        relists = [t for _, t, _ in cluster.requests if "watch" not in t][WATCHES:]
    # After 410 the cache is cleared: a list of the latest state, not one from a version.
    assert all("resourceVersion" not in t for t in relists)


def test_without_a_watch_every_read_lists_no_older_than_it_holds(
    cluster: FakeCluster, strict: KubernetesLiveReader
) -> None:
    reader = strict
    cluster.forbid("watch", "pods", NS)
    cluster.forbid("watch", "deployments", NS)
    assert reader.read([GW])[GW] == LiveState(D1, T0)
    held = str(cluster.history.revision)
    cluster.add(gw_pod(1, D2, T0, tag="1.5.0"))
    # The objects are older than stale_after and no watch keeps them: never served stale.
    assert reader.read([GW])[GW] == LiveState(D2, T0)
    with cluster.lock:
        lists = [t for _, t, _ in cluster.requests if "watch" not in t]
    assert len(lists) == 2 * WATCHES
    for target in lists[WATCHES:]:  # "resourceVersionMatch": not older than what is held
        query = parse_qs(urlsplit(target).query)
        assert query["resourceVersionMatch"] == ["NotOlderThan"]
        assert query["resourceVersion"] == [held]


def test_a_server_that_is_gone_is_an_error_not_the_last_answer(
    cluster: FakeCluster, strict: KubernetesLiveReader
) -> None:
    reader = strict
    reader.read([GW])
    until(lambda: cluster.history.streams == WATCHES)
    cluster.forbid("watch", "pods", NS)
    cluster.forbid("list", "pods", NS)
    cluster.drop()
    until(lambda: reader.read([GW])[GW].error is not None)
    assert "forbids list on pods" in (reader.read([GW])[GW].error or "")
