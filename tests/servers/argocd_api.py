"""A small fake Argo CD API server on 127.0.0.1, for the `argocd` live source tests.

Argo CD needs a Kubernetes cluster to run, and none can run here, so this answers the calls
the live source makes with Application objects in the shape Argo CD's API gives them:

- ``GET /api/v1/applications/{name}[?appNamespace=NS]``, its errors as Argo CD's gRPC
  gateway writes them (``{"error", "code", "message"}``): 401 without a valid bearer token,
  403 where RBAC denies the application, 404 for an unknown one.
- ``GET /api/v1/stream/applications`` (query ``name``, ``appNamespace``, ``projects``,
  ``selector`` with equality terms only, ``resourceVersion``), served as Argo CD serves
  it. References are to argoproj/argo-cd at 37ee0097cf851bc2dd7665fc081bbce61a7e836e,
  argoproj/pkg v2.0.1 and grpc-ecosystem/grpc-gateway v1.16.0 (Argo CD's go.mod):

  * server/application/application.go, ``Watch`` (line 1250): when ``resourceVersion``
    is empty or ``name`` is given, every matching application is sent first as
    ``ADDED``, in order of ``namespace/name``; then each change as it happens. A
    ``resourceVersion`` replays nothing: it only keeps back applications whose
    resourceVersion is lower (``isApplicationPermitted``, line 1225), so a stream cannot
    resume and a client that reconnects without one is told everything again.
  * ``isApplicationPermitted``: ``appNamespace`` counts only with ``name``; applications
    RBAC denies are left out without a word (no 403 on the stream).
  * pkg/apiclient/application/forwarder_overwrite.go and argoproj/pkg grpc/http
    ``NewStreamForwarder``: each event is ``{"result": {"type", "application"}}``; one
    whose JSON is the same as the last sent for that application name is not sent again.
    With ``Accept: text/event-stream`` each is framed ``data: <json> \\n\\n`` and a
    ``:`` line is written every 15 s (``keepalive``), otherwise one JSON document a line
    and nothing while idle.
  * grpc-gateway runtime/handler.go ``ForwardResponseStream``: each message is followed
    by ``\\n``; the status line goes out with the first message (before it the gateway
    waits for the gRPC headers); an error before any message is its HTTP status and
    ``{"error": {"grpc_code", "http_code", "message", "http_status"}}`` without a line end
    (an unauthenticated stream: 401).

``stream_status`` makes the stream answer that status instead (404: a proxy that does not
route it; 501: a server without it); ``drop()`` cuts every open stream.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.servers.httpserve import send_json, serving

PREFIX = "/api/v1/applications/"
STREAM = "/api/v1/stream/applications"
HOME = "argocd"  # Argo CD's own namespace
CONFIG_REPO = "https://git.example.com/platform/config.git"


@dataclass(frozen=True)
class Change:
    revision: int
    type: str  # ADDED, MODIFIED or DELETED
    application: dict[str, Any]


@dataclass
class FakeArgoCD:
    """The Applications the server holds and what it was asked; ``lock`` is notified at
    every change, request, stream opened or closed and keepalive."""

    token: str
    port: int = 0
    applications: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)  # application names RBAC denies
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)
    revision: int = 918273  # the informer's resourceVersion, bumped by every change
    changes: list[Change] = field(default_factory=list)
    stream_status: int | None = None  # answer the stream with this status instead
    keepalive: float | None = 15.0  # seconds between ":" lines on an event stream
    keepalives: int = 0  # ":" lines written
    streams: int = 0  # streams open now
    drops: int = 0  # bumped by drop(): each open stream is cut
    stopping: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *applications: dict[str, Any]) -> None:
        """Create or replace each application (ADDED or MODIFIED on the streams)."""
        with self.lock:
            for app in applications:
                kept = copy.deepcopy(app)
                meta = kept["metadata"]
                key = (meta["namespace"], meta["name"])
                self.revision += 1
                meta["resourceVersion"] = str(self.revision)
                kind = "MODIFIED" if key in self.applications else "ADDED"
                self.applications[key] = kept
                self.changes.append(Change(self.revision, kind, kept))
            self.lock.notify_all()

    def remove(self, name: str, namespace: str = HOME) -> None:
        """Delete an application (DELETED on the streams)."""
        with self.lock:
            app = self.applications.pop((namespace, name))
            self.revision += 1
            self.changes.append(Change(self.revision, "DELETED", app))
            self.lock.notify_all()

    def drop(self) -> None:
        """Cut every open stream without ending it, as a dying connection does."""
        with self.lock:
            self.drops += 1
            self.lock.notify_all()

    def wait(self, condition: Callable[[], bool], seconds: float = 30.0) -> None:
        """Wait for ``condition`` (called with ``lock`` held), failing after ``seconds``."""
        with self.lock:
            assert self.lock.wait_for(condition, seconds), "the server did not get there in time"

    def gets(self) -> list[str]:
        """The targets of the per-application GETs, in order."""
        with self.lock:
            return [t for _, t, _ in self.requests if t.startswith(PREFIX)]

    def watches(self) -> list[tuple[str, str | None]]:
        """The target and Authorization of each stream asked for, in order."""
        with self.lock:
            return [(t, auth) for _, t, auth in self.requests if t.startswith(STREAM)]

    def answer(self, method: str, target: str, auth: str | None) -> tuple[int, dict[str, Any]]:
        url = urlsplit(target)
        with self.lock:
            self.requests.append((method, target, auth))
            self.lock.notify_all()
            refused = self._unauthenticated(auth)
            if refused is not None:
                return _error(401, 16, refused)
            if method != "GET" or not url.path.startswith(PREFIX):
                return _error(404, 5, "Not Found")
            name = unquote(url.path[len(PREFIX) :])
            namespace = parse_qs(url.query).get("appNamespace", [HOME])[0]
            if name in self.forbidden:
                return _error(403, 7, "permission denied")
            app = self.applications.get((namespace, name))
            if app is None:
                return _error(404, 5, f'applications.argoproj.io "{name}" not found')
            return 200, app

    def _unauthenticated(self, auth: str | None) -> str | None:
        if auth is None:
            return "no session information"
        if auth != f"Bearer {self.token}":
            return "invalid session: token signature is invalid"
        return None

    # -- the stream ----------------------------------------------------------------------------
    def watch(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer ``GET /api/v1/stream/applications`` until it is cut or the server stops."""
        target, auth = handler.path, handler.headers.get("Authorization")
        out = _Writer(handler, handler.headers.get("Accept") == "text/event-stream")
        with self.lock:
            self.requests.append(("GET", target, auth))
            self.lock.notify_all()
            refused = self._unauthenticated(auth)
            if refused is None and self.stream_status is not None:
                reason = "Not Found" if self.stream_status == 404 else "Not Implemented"
                send_json(handler, *_error(self.stream_status, 5, reason))
                return
            query = _Query.of(parse_qs(urlsplit(target).query))
            initial = []
            if not query.version or query.name:
                initial = sorted(
                    (a for a in self.applications.values() if self._permits(query, a)),
                    key=lambda a: f"{a['metadata']['namespace']}/{a['metadata']['name']}",
                )
            sent, drops = self.revision, self.drops
            self.streams += 1
            self.lock.notify_all()
        try:
            if refused is not None:
                out.error(401, 16, refused, "Unauthorized")
                return
            for app in initial:
                out.event("ADDED", app)
            self._follow(query, out, sent, drops)
        finally:
            with self.lock:
                self.streams -= 1
                self.lock.notify_all()

    def _follow(self, query: _Query, out: _Writer, sent: int, drops: int) -> None:
        while True:
            with self.lock:
                since = sent
                quiet = self.keepalive if out.sse and out.started else None
                self.lock.wait_for(
                    lambda: (
                        self.revision > since  # noqa: B023 - waited on at once, in this pass
                        or self.drops != drops
                        or self.stopping
                    ),
                    timeout=quiet,
                )
                changes = [c for c in self.changes if c.revision > sent]
                changes = [c for c in changes if self._permits(query, c.application)]
                sent = self.revision
                cut = self.drops != drops or self.stopping
            if cut:
                out.cut()
                return
            if not changes and sent == since:
                if not out.keepalive():
                    return
                with self.lock:
                    self.keepalives += 1
                    self.lock.notify_all()
            for change in changes:
                if not out.event(change.type, change.application):
                    return

    def _permits(self, query: _Query, app: dict[str, Any]) -> bool:
        """Argo CD's isApplicationPermitted (``lock`` held)."""
        meta = app["metadata"]
        if query.projects and app["spec"].get("project") not in query.projects:
            return False
        if int(meta.get("resourceVersion") or 0) < query.min_version:
            return False
        if query.name and (meta["name"], meta["namespace"]) != (query.name, query.namespace):
            return False
        labels = meta.get("labels") or {}
        if any((labels.get(k) == v) != equal for k, v, equal in query.selector):
            return False
        return meta["name"] not in self.forbidden


@dataclass(frozen=True)
class _Query:
    name: str
    namespace: str  # the name's namespace: appNamespace, else Argo CD's own
    projects: frozenset[str]
    selector: tuple[tuple[str, str, bool], ...]  # (key, value, equal)
    version: str
    min_version: int

    @classmethod
    def of(cls, query: dict[str, list[str]]) -> _Query:
        version = query.get("resourceVersion", [""])[0]
        terms = []
        for term in filter(None, query.get("selector", [""])[0].split(",")):
            key, op, value = term.partition("!=") if "!=" in term else term.partition("=")
            terms.append((key.strip(), value.lstrip("=").strip(), op == "="))
        return cls(
            name=query.get("name", [""])[0],
            namespace=query.get("appNamespace", [""])[0] or HOME,
            projects=frozenset(query.get("projects", []) + query.get("project", [])),
            selector=tuple(terms),
            version=version,
            min_version=int(version) if version.isdigit() else 0,
        )


class _Writer:
    """Writes one stream as grpc-gateway and Argo CD's forwarder do."""

    def __init__(self, handler: BaseHTTPRequestHandler, sse: bool) -> None:
        self.handler, self.sse = handler, sse
        self.started = False
        self._last: dict[str, bytes] = {}  # the last event sent for each application name

    def event(self, kind: str, app: dict[str, Any]) -> bool:
        data = self._frame({"result": {"type": kind, "application": app}})
        name = app["metadata"]["name"]
        if self._last.get(name) == data:
            return True
        self._last[name] = data
        return self._chunk(data + b"\n")

    def keepalive(self) -> bool:
        return self._chunk(b":\n")

    def error(self, status: int, code: int, message: str, reason: str) -> None:
        error = {"grpc_code": code, "http_code": status, "message": message, "http_status": reason}
        self._start(status)
        self._chunk(self._frame({"error": error}))
        self._end()

    def cut(self) -> None:
        self.handler.close_connection = True
        with suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)

    def _frame(self, document: dict[str, Any]) -> bytes:
        data = json.dumps(document).encode()
        return b"data: " + data + b" \n\n" if self.sse else data

    def _start(self, status: int) -> None:
        self.handler.send_response(status)
        self.handler.send_header(
            "Content-Type", "text/event-stream" if self.sse else "application/json"
        )
        self.handler.send_header("Transfer-Encoding", "chunked")
        if self.sse:
            self.handler.send_header("X-Content-Type-Options", "nosniff")
        self.handler.end_headers()
        self.started = True

    def _chunk(self, data: bytes) -> bool:
        try:
            if not self.started:
                self._start(200)
            self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.handler.wfile.flush()
        except OSError:
            return False  # the client hung up
        return True

    def _end(self) -> None:
        with suppress(OSError):
            self.handler.wfile.write(b"0\r\n\r\n")
            self.handler.wfile.flush()


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
    namespace: str = HOME,
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
        argocd = self.server.argocd
        if urlsplit(self.path).path == STREAM:
            argocd.watch(self)
            return
        code, document = argocd.answer(self.command, self.path, self.headers.get("Authorization"))
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
        try:
            yield argocd
        finally:
            with argocd.lock:  # open streams end before the server stops
                argocd.stopping = True
                argocd.lock.notify_all()
