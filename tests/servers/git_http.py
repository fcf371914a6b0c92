"""A smart-HTTP git server on loopback for tests: Basic auth in front of `git http-backend`.

The backend is the installed git's own CGI program, so clients talk to the same server code
that hosts run; this wrapper only checks the token and translates HTTP to CGI and back.
"""

from __future__ import annotations

import base64
import hmac
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _backend() -> str:
    exec_path = subprocess.run(
        ["git", "--exec-path"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return str(Path(exec_path) / "git-http-backend")


@dataclass
class RequestLog:
    """What the server saw: enough for tests to check how a client authenticated."""

    lines: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, line: str, authorization: str) -> None:
        with self.lock:
            self.lines.append(line)
            self.authorizations.append(authorization)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        authorization = self.headers.get("Authorization", "")
        self.server.log.add(f"{self.command} {self.path}", authorization)
        body = self._body()
        pause = self.server.hooks.pause
        if pause is not None and not pause(self.command, self.path.split("?", 1)[0]):
            self.close_connection = True  # dropped unanswered (an injected fault)
            return
        user = self._user(authorization)
        if self.server.token is not None and user is None:
            self._reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"unauthorized\n")
            return
        self._cgi(body, user or "anonymous")

    def _user(self, authorization: str) -> str | None:
        if self.server.token is None or not authorization.startswith("Basic "):
            return None
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        if hmac.compare_digest(password.encode(), self.server.token.encode()):
            return user
        return None

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cgi(self, body: bytes, user: str) -> None:
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(
            [self.server.backend], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self._reply(status, headers, payload)

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client hanging up after a 401 is normal: keep test output clean

    def __init__(self, root: Path, token: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.token = token
        self.backend = _backend()
        self.log = RequestLog()
        self.hooks = GitHooks()


@dataclass
class GitHooks:
    """What a test may inject: ``pause`` is asked before each request is served (it may
    block); False drops the request unanswered."""

    pause: Callable[[str, str], bool] | None = None


@dataclass(frozen=True)
class GitHttp:
    """A running server: ``url(name)`` is the clone URL of ``root/name``."""

    root: Path
    port: int
    log: RequestLog
    hooks: GitHooks = field(default_factory=GitHooks)

    def url(self, name: str) -> str:
        """The smart-HTTP URL of the bare repository ``root/name``."""
        return f"http://127.0.0.1:{self.port}/{name}"


@contextmanager
def serve_git(root: Path, token: str | None = None) -> Iterator[GitHttp]:
    """Serve the bare repositories under ``root``; with ``token``, require it (Basic auth)."""
    server = _Server(root, token)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield GitHttp(root=root, port=server.server_address[1], log=server.log, hooks=server.hooks)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
