"""A small fake Kubernetes API server on 127.0.0.1, for the `kubernetes` live source tests.

This is the one mock of a real component the tests allow (docs/architecture.md, tests): no
Kubernetes API server can run here (no cluster, no etcd, no container runtime). It serves
the read-only calls the live source makes, with objects in the real API's shape
(apiVersion, kind, metadata, spec, status; lists without per-item kind), so the official
client's own models parse them:

- ``GET /apis/apps/v1/namespaces/{ns}/{deployments|statefulsets|daemonsets}[/{name}]``
- ``GET /api/v1/namespaces/{ns}/pods?labelSelector=...`` (equality and set-based selectors)
- either list with ``watch=true``: a watch stream (tests/servers/kubernetes_watch.py), and
  with ``resourceVersion`` and ``resourceVersionMatch`` as the real server reads them

Every request must carry ``Authorization: Bearer <token>`` (else 401, reason
Unauthorized). ``forbid(verb, resource, namespace)`` makes the server answer 403 with the
Status object RBAC gives (reason Forbidden); an unknown object is 404 (reason NotFound).
``stalled`` makes it accept requests and answer nothing until it stops.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.servers.httpserve import send_json, serving
from tests.servers.kubernetes_watch import History, WatchRequest, list_version, stream
from tests.servers.kubernetes_watch import status_object as _status

_APPS = re.compile(
    r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/(?P<resource>deployments|statefulsets|daemonsets)"
    r"(/(?P<name>[^/]+))?$"
)
_PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
_KIND = {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}
_GROUP = {"deployments": "apps", "statefulsets": "apps", "daemonsets": "apps", "pods": ""}
_CREATED = "2026-11-20T08:00:00Z"


@dataclass
class FakeCluster:
    """The objects the server holds and what it was asked; safe to change while serving."""

    token: str
    port: int = 0
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    forbidden: set[tuple[str, str, str]] = field(default_factory=set)  # (verb, resource, ns)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, auth
    lock: threading.Lock = field(default_factory=threading.Lock)
    stalled: bool = False  # answer nothing until ``released`` (set when the server stops)
    released: threading.Event = field(default_factory=threading.Event)
    history: History = field(default_factory=History)

    def count(self, *, watch: bool) -> int:
        """How many lists (``watch`` False) or watches were asked."""
        with self.lock:
            targets = [target for _, target, _ in self.requests]
        return sum(("watch=true" in t) == watch and "/namespaces/" in t for t in targets)

    def remove(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object (a DELETED event to watches)."""
        resource = kind.lower() + "s"
        with self.lock, self.history.changed:
            obj = self.objects.pop((resource, namespace, name))
            self.history.record("DELETED", resource, namespace, obj)

    def compact(self) -> None:
        """Forget the history: a watch from an older version is answered 410 Gone."""
        with self.history.changed:
            self.history.changes.clear()
            self.history.oldest = self.history.revision

    def bookmark(self) -> None:
        """Send a BOOKMARK of the current version on every stream that asked for them."""
        with self.history.changed:
            self.history.bookmarks += 1
            self.history.changed.notify_all()

    def drop(self) -> None:
        """Cut every open watch stream, as a broken connection would."""
        with self.history.changed:
            self.history.drops += 1
            self.history.changed.notify_all()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *objects: dict[str, Any]) -> None:
        """Store Deployments, StatefulSets, DaemonSets and Pods (replacing same-named ones)."""
        with self.lock, self.history.changed:
            for obj in objects:
                resource = obj["kind"].lower() + "s"
                meta = obj["metadata"]
                key = (resource, meta["namespace"], meta["name"])
                change = "MODIFIED" if key in self.objects else "ADDED"
                self.objects[key] = obj
                self.history.record(change, resource, meta["namespace"], obj)

    def forbid(self, verb: str, resource: str, namespace: str) -> None:
        """Answer 403 to ``verb`` (get, list) on ``resource`` in ``namespace``."""
        with self.lock:
            self.forbidden.add((verb, resource, namespace))

    def answer(
        self, method: str, target: str, auth: str | None
    ) -> tuple[int, dict[str, Any]] | WatchRequest:
        """The status and JSON body the API server would give, or the watch to stream."""
        url = urlsplit(target)
        query = parse_qs(url.query)
        with self.lock:
            self.requests.append((method, target, auth))
            if auth != f"Bearer {self.token}":
                return 401, _status(401, "Unauthorized", "Unauthorized")
            if method != "GET":
                return 405, _status(405, "MethodNotAllowed", "the server does not allow this")
            found = _APPS.match(url.path) or _PODS.match(url.path)
            if found is None:
                return 404, _status(
                    404, "NotFound", "the server could not find the requested resource"
                )
            ns, resource = found["ns"], found.groupdict().get("resource") or "pods"
            if found.groupdict().get("name"):
                return self._get(resource, ns, found["name"])
            verb = "watch" if query.get("watch") == ["true"] else "list"
            if (verb, resource, ns) in self.forbidden:
                return _forbidden(verb, resource, ns, None)
            selector = query.get("labelSelector", [""])[0]
            if verb == "watch":
                return WatchRequest(
                    resource,
                    ns,
                    "Pod" if resource == "pods" else _KIND[resource],
                    int(query.get("resourceVersion", ["0"])[0] or 0),
                    query.get("allowWatchBookmarks") == ["true"],
                    float(query.get("timeoutSeconds", ["1800"])[0]),
                    parse_selector(selector),
                )
            with self.history.changed:
                refused = list_version(self.history, query)
                if refused is not None:
                    return refused[0], _status(refused[0], refused[1], "resource version refused")
                return self._list(resource, ns, selector)

    def _get(self, resource: str, ns: str, name: str) -> tuple[int, dict[str, Any]]:
        if ("get", resource, ns) in self.forbidden:
            return _forbidden("get", resource, ns, name)
        obj = self.objects.get((resource, ns, name))
        if obj is None:
            qualified = f"{resource}.{_GROUP[resource]}" if _GROUP[resource] else resource
            status = _status(404, "NotFound", f'{qualified} "{name}" not found')
            status["details"] = {"name": name, "group": _GROUP[resource], "kind": resource}
            return 404, status
        return 200, obj

    def _list(self, resource: str, ns: str, selector: str) -> tuple[int, dict[str, Any]]:
        match = parse_selector(selector)
        items = [
            {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
            for (kind, namespace, _), obj in sorted(self.objects.items())
            if kind == resource and namespace == ns and match(obj["metadata"].get("labels", {}))
        ]
        return 200, {
            "apiVersion": "v1" if resource == "pods" else "apps/v1",
            "kind": ("Pod" if resource == "pods" else _KIND[resource]) + "List",
            "metadata": {"resourceVersion": str(self.history.revision)},
            "items": items,
        }


def _forbidden(verb: str, resource: str, ns: str, name: str | None) -> tuple[int, dict[str, Any]]:
    group = _GROUP[resource]
    qualified = f"{resource}.{group}" if group else resource
    subject = f'{qualified} "{name}"' if name else qualified
    message = (
        f'{subject} is forbidden: User "system:serviceaccount:reconciler:reconciler" cannot '
        f'{verb} resource "{resource}" in API group "{group}" in the namespace "{ns}"'
    )
    status = _status(403, "Forbidden", message)
    status["details"] = {"group": group, "kind": resource, **({"name": name} if name else {})}
    return 403, status


# -- label selectors ------------------------------------------------------------------------


def parse_selector(text: str) -> Any:
    """A predicate on a label dict for ``text`` in the API's selector syntax."""
    terms = [t.strip() for t in re.split(r",(?![^()]*\))", text) if t.strip()]
    checks = [_term(t) for t in terms]
    return lambda labels: all(check(labels) for check in checks)


def _term(term: str) -> Any:
    found = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
    if found:
        key, op, values = found[1], found[2], {v.strip() for v in found[3].split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    found = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", term)
    if found:
        key, op, value = found[1], found[2], found[3]
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        return lambda labels: term[1:] not in labels
    return lambda labels: term in labels


# -- objects in the API's shape -------------------------------------------------------------


def _meta(name: str, ns: str, labels: dict[str, str], generation: int | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}/{name}")),
        "resourceVersion": "4242",
        "creationTimestamp": _CREATED,
        "labels": labels,
    }
    if generation is not None:
        meta["generation"] = generation
    return meta


def _template(labels: dict[str, str], containers: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
                for name, image in containers.items()
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
        },
    }


def deployment(
    name: str,
    ns: str,
    containers: dict[str, str],
    *,
    replicas: int = 3,
    updated: int | None = None,
    total: int | None = None,
    generation: int = 2,
    observed: int | None = None,
    selector: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An apps/v1 Deployment; by default its rollout is complete (every replica updated)."""
    labels = {"app": name}
    updated = replicas if updated is None else updated
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, ns, labels, generation),
        "spec": {
            "replicas": replicas,
            "selector": selector or {"matchLabels": labels},
            "template": _template(labels, containers),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": generation if observed is None else observed,
            "replicas": replicas if total is None else total,
            "updatedReplicas": updated,
            "readyReplicas": min(replicas, updated),
            "availableReplicas": min(replicas, updated),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "lastUpdateTime": _CREATED,
                    "lastTransitionTime": _CREATED,
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                }
            ],
        },
    }


def statefulset(
    name: str,
    ns: str,
    containers: dict[str, str],
    *,
    replicas: int = 2,
    current_revision: str = "rev-1",
    update_revision: str = "rev-1",
) -> dict[str, Any]:
    """An apps/v1 StatefulSet; its rollout is complete when both revisions are equal."""
    labels = {"app": name}
    done = current_revision == update_revision
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(name, ns, labels, 1),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": _template(labels, containers),
            "serviceName": name,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": replicas,
            "currentReplicas": replicas if done else replicas - 1,
            "updatedReplicas": replicas if done else 1,
            "currentRevision": f"{name}-{current_revision}",
            "updateRevision": f"{name}-{update_revision}",
            "collisionCount": 0,
            "availableReplicas": replicas,
        },
    }


def daemonset(name: str, ns: str, containers: dict[str, str], *, nodes: int = 2) -> dict[str, Any]:
    """An apps/v1 DaemonSet scheduled and updated on ``nodes`` nodes."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(name, ns, labels, 1),
        "spec": {
            "selector": {"matchLabels": labels},
            "template": _template(labels, containers),
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "revisionHistoryLimit": 10,
        },
        "status": {
            "currentNumberScheduled": nodes,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": nodes,
            "numberReady": nodes,
            "observedGeneration": 1,
            "updatedNumberScheduled": nodes,
            "numberAvailable": nodes,
        },
    }


def pod(
    name: str,
    ns: str,
    labels: dict[str, str],
    container: str,
    image: str,
    image_id: str,
    started_at: datetime | None,
    *,
    extra: dict[str, tuple[str, str]] | None = None,
    phase: str = "Running",
    deleting: bool = False,
) -> dict[str, Any]:
    """A Pod whose ``container`` runs ``image`` as ``image_id`` ("" before the pull).

    ``started_at`` None: the container is still waiting (ContainerCreating). ``extra``
    adds containers: name -> (image, imageID), running since ``started_at``.
    """
    containers = {container: (image, image_id), **(extra or {})}
    meta = _meta(name, ns, labels, None)
    if deleting:
        meta["deletionTimestamp"] = "2026-11-26T08:59:00Z"
        meta["deletionGracePeriodSeconds"] = 30
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": _template(labels, {n: i for n, (i, _) in containers.items()})["spec"],
        "status": {
            "phase": phase,
            "hostIP": "10.0.0.7",
            "podIP": "10.244.1.23",
            "startTime": _stamp(started_at) if started_at else _CREATED,
            "qosClass": "BestEffort",
            "conditions": [{"type": "Ready", "status": "True" if started_at else "False"}],
            "containerStatuses": [
                _container_status(n, i, iid, started_at) for n, (i, iid) in containers.items()
            ],
        },
    }


def _container_status(
    name: str, image: str, image_id: str, started_at: datetime | None
) -> dict[str, Any]:
    state: dict[str, Any] = (
        {"running": {"startedAt": _stamp(started_at)}}
        if started_at
        else {"waiting": {"reason": "ContainerCreating"}}
    )
    return {
        "name": name,
        "image": image,
        "imageID": image_id,  # "" until the image is pulled, as the kubelet reports it
        "ready": started_at is not None,
        "started": started_at is not None,
        "restartCount": 0,
        "state": state,
        "lastState": {},
        **({"containerID": f"containerd://{uuid.uuid4().hex}"} if started_at else {}),
    }


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the server and a kubeconfig pointing at it ----------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._reply()

    def do_POST(self) -> None:
        self._reply()

    def do_PATCH(self) -> None:
        self._reply()

    def do_DELETE(self) -> None:
        self._reply()

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        cluster = self.server.cluster
        if cluster.stalled:
            cluster.released.wait()
            self.close_connection = True
            return
        answer = cluster.answer(self.command, self.path, self.headers.get("Authorization"))
        if isinstance(answer, WatchRequest):
            stream(self, cluster.history, answer)
            return
        send_json(self, *answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    cluster: FakeCluster


@contextmanager
def serve(token: str) -> Iterator[FakeCluster]:
    """Run a fake API server on 127.0.0.1 that accepts ``token``; stop it on exit."""
    server = _Server(("127.0.0.1", 0), _Handler)
    cluster = FakeCluster(token=token, port=server.server_address[1])
    server.cluster = cluster
    with serving(server):
        try:
            yield cluster
        finally:
            cluster.released.set()  # a held request must end before the server can stop
            cluster.drop()


def write_kubeconfig(
    path: Path, contexts: dict[str, tuple[str, str]], current: str | None = None
) -> Path:
    """A kubeconfig with one context per entry: name -> (server URL, bearer token)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, (url, _) in contexts.items()],
        "users": [{"name": n, "user": {"token": token}} for n, (_, token) in contexts.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in contexts],
        "current-context": current or next(iter(contexts)),
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML: the client reads it as is
    return path
