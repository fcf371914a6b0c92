"""`reconciler run --webhook-secret-file`: a signed GitHub delivery makes the daemon process
run a cycle at once; a bad signature does not."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from reconciler.clock import utc_now
from reconciler.demo.flow import QUICK, seed_files
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import create_repository
from tests.ports import free_port
from tests.servers.github_sim import webhooks


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    """Poll the daemon's log for ``text``; fail after a generous bound."""
    deadline = time.monotonic() + 30
    while text not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in:\n{log.read_text()}"
        time.sleep(0.1)  # polling a log file, not waiting for something to have happened


def test_a_signed_push_triggers_a_cycle_and_a_forged_one_does_not(tmp_path: Path) -> None:
    signer = Signature("platform", "platform@example.com", utc_now().replace(microsecond=0))
    files = seed_files("http://127.0.0.1:9", QUICK)
    files["promotions.toml"] = files["promotions.toml"].replace(b'"1s"', b'"1h"', 1)
    create_repository(tmp_path / "config.git", files, branch="main", message="seed", author=signer)
    secret = b"shared-secret-for-tests"
    (tmp_path / "secret").write_bytes(secret + b"\n")
    port = free_port()
    log = tmp_path / "daemon.log"
    exe = Path(sys.executable).with_name("reconciler")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(exe),
                "run",
                "--repo",
                str(tmp_path / "config.git"),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--listen",
                f"127.0.0.1:{port}",
                "--webhook-secret-file",
                str(tmp_path / "secret"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(log, "cycle 1 (start)", process)
        body = webhooks.example("push")
        forged = webhooks.delivery("push", body, b"wrong secret")
        assert post(f"http://127.0.0.1:{port}/webhook", body, forged) == 401
        headers = webhooks.delivery("push", body, secret)
        assert post(f"http://127.0.0.1:{port}/webhook", body, headers) == 202
        wait_for(log, "cycle 2 (webhook push", process)
        assert post(f"http://127.0.0.1:{port}/webhook", body, headers) == 200  # a replay
        assert secret.decode() not in log.read_text()
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert "cycle 3" not in log.read_text()
