"""A real `reconciler run` (or `once`) process whose JSON log lines the test reads as they come.

A thread reads the child's output line by line into a list guarded by a condition, so a test
waits for a line with a bound instead of sleeping or polling a file.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler.clock import utc_now
from reconciler.demo.flow import QUICK, seed_files
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import create_repository

GENEROUS = 60.0  # seconds: only bounds a wait so that a broken build fails instead of hanging
EXE = Path(sys.executable).with_name("reconciler")

Line = dict[str, Any]


def config_repo(
    path: Path,
    base_url: str,
    edit: Callable[[str], str] = lambda p: p,
    pins: Mapping[str, str] | None = None,
) -> Path:
    """The demo's config repo, gates and live sources at ``base_url``, created atomically
    at ``path`` (a daemon retrying its fetch sees no repository or a whole one); ``pins``:
    environment -> the digest its overlay pins instead of the demo's."""
    files = seed_files(base_url, QUICK)
    files["promotions.toml"] = edit(files["promotions.toml"].decode()).encode()
    for env, digest in (pins or {}).items():
        overlay = f"overlays/{env}/kustomization.yaml"
        files[overlay] = re.sub(rb"sha256:[0-9a-f]{64}", digest.encode(), files[overlay])
    scratch = path.with_name(path.name + ".tmp")
    signer = Signature("platform", "platform@example.com", utc_now().replace(microsecond=0))
    create_repository(scratch, files, branch="main", message="seed", author=signer)
    scratch.rename(path)
    return path


class DaemonProcess:
    """One `reconciler VERB ...` process, its output read as it comes."""

    def __init__(self, verb: str, repo: Path | str, cache: Path, *extra: str) -> None:
        """``extra`` options come first; `run` gets ``--listen 127.0.0.1:0`` unless ``extra``
        names one, and JSON logs."""
        command = [str(EXE), verb, "--repo", str(repo), "--cache-dir", str(cache), *extra]
        if verb == "run":
            if "--listen" not in extra:
                command += ["--listen", "127.0.0.1:0"]
            command += ["--log-format", "json"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:  # this thread owns the pipe: closed at end of output
            for text in self.process.stdout:
                with self._changed:
                    self.lines.append(text.rstrip("\n"))
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def records(self) -> list[Line]:
        """The JSON log lines so far (other output is skipped)."""
        with self._changed:
            lines = list(self.lines)
        return [json.loads(t) for t in lines if t.startswith("{")]

    def wait_for(self, wanted: Callable[[Line], bool], what: str) -> Line:
        """The first JSON log line ``wanted`` accepts; fails after GENEROUS seconds or if
        the process ends first."""
        seen = 0
        with self._changed:
            while True:
                for text in self.lines[seen:]:
                    if not text.startswith("{"):
                        continue
                    record: Line = json.loads(text)
                    if wanted(record):
                        return record
                seen = len(self.lines)
                if self._ended:
                    code = self.process.wait(timeout=GENEROUS)
                    raise AssertionError(f"exited {code} before {what}:\n{self.text()}")
                assert self._changed.wait(GENEROUS), f"no {what} within {GENEROUS}s:\n{self.text()}"

    def address(self) -> str:
        """host:port the daemon serves on (it listens on an ephemeral port)."""
        line = self.wait_for(lambda r: "serving /metrics" in r["message"], "serving line")
        found = re.search(r"http://(\S+)", line["message"])
        assert found is not None, line
        return found.group(1)

    def get(self, path: str) -> tuple[int, str]:
        """GET ``path`` from the daemon's server: (status, body)."""
        return self._call(urllib.request.Request(f"http://{self.address()}{path}"))

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST ``body`` to ``path`` on the daemon's server: (status, body)."""
        url = f"http://{self.address()}{path}"
        return self._call(urllib.request.Request(url, body, headers, method="POST"))

    @staticmethod
    def _call(request: urllib.request.Request) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def finish(self) -> int:
        """Wait for the process to end (GENEROUS at most, then SIGKILL): its exit status."""
        try:
            code = self.process.wait(timeout=GENEROUS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"did not exit within {GENEROUS}s:\n{self.text()}") from None
        self._reader.join(timeout=GENEROUS)
        return code

    def stop(self) -> None:
        """SIGKILL if still running (test clean-up)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=GENEROUS)

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)
