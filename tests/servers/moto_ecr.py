"""moto's server (``moto[server]``) on 127.0.0.1, standing in for Amazon ECR.

Started as its own process on a free port; start-up is awaited by asking it until it
answers, within a bound. The AWS variables that point boto3 at it (test credentials, no
shared config files, no instance metadata) are in ``aws_environment``. ``counting`` puts a
forwarder in front of it that keeps the ECR operation of every request it passes (botocore
names it in ``X-Amz-Target``), so tests and benchmarks count API calls as ECR would bill them,
botocore's retries included.
"""

from __future__ import annotations

import http.client
import importlib.util
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ports import free_port
from tests.servers.endpoints import Endpoints, serve

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
ACCOUNT = "123456789012"  # moto's default account
_START_TIMEOUT = 60.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def available() -> bool:
    """Whether moto's server and its web framework are installed."""
    return MOTO_SERVER.exists() and all(
        importlib.util.find_spec(name) is not None for name in ("moto", "flask", "flask_cors")
    )


def aws_environment(folder: Path, *, credentials: bool = True) -> dict[str, str]:
    """Variables for boto3: test credentials (or none), no shared files, no metadata service."""
    env = {
        "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if credentials:
        env |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return env


@contextmanager
def run_moto(folder: Path) -> Iterator[str]:
    """moto's server on a free loopback port; yields its endpoint URL once it answers."""
    port = free_port()
    log = folder / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"moto_server exited at start: {log.read_text()[-2000:]}")
        try:
            with _DIRECT.open(f"{url}/moto-api/", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            pass  # not listening yet
        time.sleep(0.05)  # poll interval of a bounded wait for the port to answer
    raise AssertionError(f"moto_server did not answer {url} in {_START_TIMEOUT:g}s")


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Counted:
    """A forwarder to moto: point the adapter at ``url``; ``operations`` lists what it passed."""

    server: Endpoints

    @property
    def url(self) -> str:
        return self.server.url("")

    def operations(self) -> list[str]:
        """Each request's ECR operation (``DescribeImages``, ``BatchGetImage``...), in order."""
        with self.server.served:
            targets = [r.headers.get("X-Amz-Target", "") for r in self.server.received]
        return [target.rpartition(".")[2] for target in targets]

    def clear(self) -> None:
        """Forget the requests passed so far."""
        with self.server.served:
            self.server.received.clear()


@contextmanager
def counting(endpoint: str) -> Iterator[Counted]:
    """A forwarder on a free loopback port passing every request to moto at ``endpoint``."""
    upstream = urllib.parse.urlsplit(endpoint)

    def forward(handler: Any, server: Endpoints) -> None:
        with server.served:  # the body _dispatch read, found by this request's own headers
            body = next(r.body for r in reversed(server.received) if r.headers is handler.headers)
        connection = http.client.HTTPConnection(upstream.netloc, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(handler.command, handler.path, body=body or None, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP]
        finally:
            connection.close()
        handler.send_response(answer.status)
        for name, value in kept:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        server.mark_served()

    with serve() as server:
        server.routes["/"] = forward
        yield Counted(server)
