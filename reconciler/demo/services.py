"""Sample services that play dev, staging and prod of the demo's apps on loopback.

One HTTP server answers for every environment under `/<env>/<app>/...`: `/healthz`,
`/smoke` and `/version` (the digest it runs and since when). Each environment "deploys"
whatever its overlay pins on the base branch when `sync` is called, as Argo CD would after
a commit. Under `/v2/` the same server is a read-only OCI registry of the demo's images
(manifests by tag or digest, and their configs), as the distribution API serves them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler import units


@dataclass(frozen=True)
class Running:
    """What one (env, app) runs."""

    digest: str | None
    since: datetime | None


class SampleServices:
    """The demo's environments, served from one loopback HTTP server."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], Running] = {}
        self._unhealthy: set[str] = set()
        # The registry: repository path -> tag -> digest, and digest -> (media type, bytes).
        self._tags: dict[str, dict[str, str]] = {}
        self._blobs: dict[str, tuple[str, bytes]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SampleServices:
        """Start answering; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering."""
        self._server.shutdown()
        self._server.server_close()

    def deploy(self, env: str, app: str, digest: str | None) -> bool:
        """Run ``digest``; True when that changed what runs."""
        with self._lock:
            current = self._running.get((env, app))
            if current is not None and current.digest == digest:
                return False
            self._running[(env, app)] = Running(digest, self._clock())
            return True

    def push(self, path: str, tag: str, manifest: bytes, config: bytes) -> str:
        """Serve an image under ``/v2/<path>/``: its manifest (also under ``tag``) and
        config; returns the manifest's digest."""
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        media_type = str(json.loads(manifest).get("mediaType", ""))
        with self._lock:
            self._blobs[digest] = (media_type, manifest)
            config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
            self._blobs[config_digest] = ("application/octet-stream", config)
            self._tags.setdefault(path, {})[tag] = digest
        return digest

    def registry_answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body for a ``/v2/...`` request path."""
        repository, _, rest = path.removeprefix("/v2/").rpartition("/")
        repository, _, kind = repository.rpartition("/")
        with self._lock:
            tags = self._tags.get(repository)
            digest = (tags or {}).get(rest, rest) if kind == "manifests" else rest
            found = self._blobs.get(digest) if tags is not None else None
        if path == "/v2/":
            return 200, {"Content-Type": "application/json"}, b"{}"
        if found is None or kind not in ("manifests", "blobs"):
            code = "NAME_UNKNOWN" if tags is None else "MANIFEST_UNKNOWN"
            body = json.dumps({"errors": [{"code": code, "message": "unknown"}]}).encode()
            return 404, {"Content-Type": "application/json"}, body
        media_type, data = found
        return 200, {"Content-Type": media_type, "Docker-Content-Digest": digest}, data

    def running(self, env: str, app: str) -> Running:
        """What (env, app) runs now."""
        with self._lock:
            return self._running.get((env, app), Running(None, None))

    def answer(self, path: str) -> tuple[int, dict[str, object]]:
        """The status and JSON body for a request path."""
        parts = path.strip("/").split("/")
        if len(parts) != 3:
            return 404, {"error": "use /<env>/<app>/healthz|smoke|version"}
        env, app, what = parts
        current = self.running(env, app)
        if current.digest is None:
            return 404, {"error": f"{app} is not deployed in {env}"}
        if what == "version":
            since = current.since.isoformat() if current.since else None
            # An app of several images says what each part runs (reconciler.units).
            running = units.parts(current.digest) if units.is_unit(current.digest) else None
            digest = running if running is not None else current.digest
            return 200, {"app": app, "env": env, "digest": digest, "started_at": since}
        if what in ("healthz", "smoke"):
            with self._lock:
                healthy = current.digest not in self._unhealthy
            return (200, {"status": "ok"}) if healthy else (503, {"status": "failing"})
        return 404, {"error": f"no endpoint {what}"}


def _handler(services: SampleServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._registry(self.path.split("?", 1)[0], body=False)

        def _registry(self, path: str, *, body: bool) -> None:
            status, headers, data = services.registry_answer(path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith("/v2/"):
                self._registry(path, body=True)
                return
            status, document = services.answer(path)
            body = json.dumps(document).encode()
            # Version answers carry an ETag, as a real service's might, so pollers can ask
            # "has it changed?" and get a bodiless 304; health answers never do.
            tag = (
                f'"{hashlib.sha256(body).hexdigest()[:16]}"' if path.endswith("/version") else None
            )
            if tag is not None and status == 200 and self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if tag is not None and status == 200:
                self.send_header("ETag", tag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the demo prints its own story

    return Handler
