"""A small fake Argo CD API server on 127.0.0.1, for the `argocd` live source tests.

Argo CD needs a Kubernetes cluster to run, and none can run here, so this answers the one
call the live source makes, ``GET /api/v1/applications/{name}[?appNamespace=NS]``, with
Application objects in the shape Argo CD's API gives them, and its errors as Argo CD's
gRPC gateway writes them (``{"error", "code", "message"}``): 401 without a valid bearer
token, 403 where RBAC denies the application, 404 for an unknown one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.servers.httpserve import send_json, serving

PREFIX = "/api/v1/applications/"
CONFIG_REPO = "https://git.example.com/platform/config.git"


@dataclass
class FakeArgoCD:
    """The Applications the server holds and what it was asked."""

    token: str
    port: int = 0
    applications: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)  # application names RBAC denies
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *applications: dict[str, Any]) -> None:
        with self.lock:
            for app in applications:
                meta = app["metadata"]
                self.applications[(meta["namespace"], meta["name"])] = app

    def answer(self, method: str, target: str, auth: str | None) -> tuple[int, dict[str, Any]]:
        url = urlsplit(target)
        with self.lock:
            self.requests.append((method, target, auth))
            if auth is None:
                return _error(401, 16, "no session information")
            if auth != f"Bearer {self.token}":
                return _error(401, 16, "invalid session: token signature is invalid")
            if method != "GET" or not url.path.startswith(PREFIX):
                return _error(404, 5, "Not Found")
            name = unquote(url.path[len(PREFIX) :])
            namespace = parse_qs(url.query).get("appNamespace", ["argocd"])[0]
            if name in self.forbidden:
                return _error(403, 7, "permission denied")
            app = self.applications.get((namespace, name))
            if app is None:
                return _error(404, 5, f'applications.argoproj.io "{name}" not found')
            return 200, app


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": message, "code": code, "message": message, "details": []}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def application(
    name: str,
    images: list[str],
    *,
    sync: str = "Synced",
    health: str = "Healthy",
    phase: str | None = "Succeeded",
    finished_at: datetime | None = None,
    deployed_at: datetime | None = None,
    reconciled_at: datetime | None = None,
    namespace: str = "argocd",
    revision: str = "4f1c2a9e0b7d3c6e8a5f2b1d0c9e8f7a6b5c4d3e",
) -> dict[str, Any]:
    """An Application with ``status.summary.images``; ``phase`` None: no sync operation yet.

    ``deployed_at`` adds a ``status.history`` entry (what a successful sync records).
    """
    env = name.rsplit("-", 1)[-1]
    source = {"repoURL": CONFIG_REPO, "path": f"overlays/{env}", "targetRevision": "main"}
    destination = {"server": "https://kubernetes.default.svc", "namespace": env}
    status: dict[str, Any] = {
        "resources": [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": env,
                "name": name.rsplit("-", 1)[0],
                "status": sync,
                "health": {"status": health},
            }
        ],
        "sync": {
            "status": sync,
            "comparedTo": {"source": source, "destination": destination},
            "revision": revision,
        },
        "health": {"status": health, "lastTransitionTime": "2026-11-26T08:00:00Z"},
        "sourceType": "Kustomize",
        "summary": {"images": images},
        "controllerNamespace": "argocd",
    }
    if reconciled_at is not None:
        status["reconciledAt"] = _stamp(reconciled_at)
    if deployed_at is not None:
        status["history"] = [
            {
                "id": 7,
                "revision": revision,
                "deployedAt": _stamp(deployed_at),
                "deployStartedAt": _stamp(deployed_at),
                "source": source,
                "initiatedBy": {"automated": True},
            }
        ]
    if phase is not None:
        operation: dict[str, Any] = {
            "operation": {
                "sync": {"revision": revision, "syncStrategy": {"hook": {}}},
                "initiatedBy": {"automated": True},
                "retry": {"limit": 5},
            },
            "phase": phase,
            "message": "successfully synced (all tasks run)" if phase == "Succeeded" else "",
            "startedAt": _stamp(finished_at) if finished_at else "2026-11-26T08:00:00Z",
        }
        if finished_at is not None and phase != "Running":
            operation["finishedAt"] = _stamp(finished_at)
        status["operationState"] = operation
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}")),
            "resourceVersion": "918273",
            "generation": 42,
            "creationTimestamp": "2026-10-01T12:00:00Z",
            "labels": {"team": "shop"},
        },
        "spec": {
            "source": source,
            "destination": destination,
            "project": "default",
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        code, document = self.server.argocd.answer(
            self.command, self.path, self.headers.get("Authorization")
        )
        send_json(self, code, document)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    argocd: FakeArgoCD


@contextmanager
def serve(token: str) -> Iterator[FakeArgoCD]:
    """Run a fake Argo CD API on 127.0.0.1 that accepts ``token``; stop it on exit."""
    server = _Server(("127.0.0.1", 0), _Handler)
    argocd = FakeArgoCD(token=token, port=server.server_address[1])
    server.argocd = argocd
    with serving(server):
        yield argocd
