"""Real `reconciler run` processes for end-to-end tests: start, nudge, SIGKILL, restart.

Each daemon is the installed command in its own process with its own cache folder, as an
operator runs it. Tests make it cycle at once with signed GitHub webhook deliveries (as
GitHub would after a push or a review) instead of waiting for the poll interval, and end
it with SIGKILL (a crash) or SIGTERM (a clean stop, exit 0 expected).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.e2e.killpoints import MARKER
from tests.ports import free_port
from tests.servers.github_sim import webhooks

SECRET = b"fault-suite-webhook-secret"
REPO_ROOT = Path(__file__).resolve().parents[2]


class DaemonProcess:
    """One `reconciler run` process; ``start`` again after a kill restarts it, same cache."""

    def __init__(self, name: str, folder: Path, options: list[str]) -> None:
        self.name = name
        self.folder = folder
        self.options = options
        self.cache = folder / "cache"
        self.log = folder / "daemon.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        # (SPEC, remote): started under tests/e2e/killpoints.py, the process kills itself
        # there (and writes SPEC to ``marker``); None: the installed command, as is.
        self.killpoint: tuple[str, Path] | None = None
        self.marker = folder / "killed-at"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "webhook-secret").write_bytes(SECRET + b"\n")

    def start(self) -> None:
        """Start the process (a restart after a kill keeps the cache folder)."""
        assert not self.alive(), f"{self.name} is already running"
        self.port = free_port()
        exe = [str(Path(sys.executable).with_name("reconciler"))]
        env = dict(os.environ)
        if self.killpoint is not None:
            spec, remote = self.killpoint
            exe = [sys.executable, "-m", "tests.e2e.killpoints", spec, str(remote), "reconciler"]
            env[MARKER] = str(self.marker)
        command = [
            *exe,
            "run",
            *self.options,
            "--cache-dir",
            str(self.cache),
            "--listen",
            f"127.0.0.1:{self.port}",
            "--webhook-secret-file",
            str(self.folder / "webhook-secret"),
        ]
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts + 1}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exited(self) -> int | None:
        """The exit status of a process that ended on its own, else None."""
        return self.process.poll() if self.process is not None else None

    def killed_itself(self) -> str | None:
        """The SPEC of the kill point the ended process died at (once), else None."""
        try:
            spec = self.marker.read_text()
        except FileNotFoundError:
            return None
        self.marker.unlink()
        self.killpoint = None  # restarted as is: the kill point has done its work
        self.kills += 1
        return spec

    def nudge(self) -> bool:
        """Deliver a signed `push` webhook so the daemon cycles now; False if not listening."""
        if not self.alive():
            return False
        body = webhooks.example("push")
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/webhook",
            data=body,
            headers=webhooks.delivery("push", body, SECRET),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status) in (200, 202)
        except (urllib.error.URLError, OSError):
            return False  # still starting: the cycle at start covers it

    def kill(self) -> None:
        """SIGKILL: the process dies wherever it is, no handler runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.kills += 1

    def stop(self) -> int:
        """SIGTERM and wait: the exit status (0 when it stopped cleanly)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -9
        return int(self.process.returncode)

    def output(self) -> str:
        return self.log.read_text(errors="replace")
