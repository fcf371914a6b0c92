"""Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1, started and stopped by tests.

The registry stores its data in a temporary folder, allows deletes, and optionally uses
token authentication against a token service the test runs (``tests.servers.registry_auth``).
Start-up is awaited by asking ``/v2/`` until it answers, within a bound.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

DOCKER_REGISTRY = Path("/usr/bin/docker-registry")
_START_TIMEOUT = 30.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy


@dataclass(frozen=True)
class TokenAuth:
    """The ``auth: token`` section: where clients get tokens and whose signatures count."""

    realm: str
    service: str
    issuer: str
    certificate: Path


@dataclass(frozen=True)
class RunningRegistry:
    port: int
    storage: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"


def _config(storage: Path, port: int, auth: TokenAuth | None) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        "  secret: tests-only-upload-secret",
    ]
    if auth is not None:
        lines += [
            "auth:",
            "  token:",
            f"    realm: {auth.realm}",
            f"    service: {auth.service}",
            f"    issuer: {auth.issuer}",
            f"    rootcertbundle: {auth.certificate}",
        ]
    return "\n".join(lines) + "\n"


@contextmanager
def run_registry(
    folder: Path, *, storage: Path | None = None, auth: TokenAuth | None = None
) -> Iterator[RunningRegistry]:
    """A registry on a free loopback port, answering ``/v2/`` before this yields."""
    folder.mkdir(parents=True, exist_ok=True)
    storage = storage or folder / "storage"
    port = free_port()
    config = folder / "config.yml"
    config.write_text(_config(storage, port, auth))
    log = folder / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(DOCKER_REGISTRY), "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_up(process, f"http://127.0.0.1:{port}/v2/", log)
        yield RunningRegistry(port, storage)
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
            raise AssertionError(f"docker-registry exited at start: {log.read_text()[-2000:]}")
        try:
            with _DIRECT.open(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for a token
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.02)  # poll interval of a bounded wait for the port to answer
    raise AssertionError(f"docker-registry did not answer {url} in {_START_TIMEOUT:g}s")
