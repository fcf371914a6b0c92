"""A real Prometheus on loopback (Debian package `prometheus`) for the tests, and its API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need
from tests.ports import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
RULES = ROOT / "deploy/prometheus/rules.yaml"
DEADLINE = 20.0  # seconds for one expected change to show; scrapes and rules run every 1s

Result = list[dict[str, Any]]


class PromAPI:
    """Prometheus's HTTP API on loopback."""

    def __init__(self, address: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base = f"http://{address}"
        self.process = process
        self.log = log

    def get(self, path: str, **params: str) -> Any:
        """GET a JSON API path; query errors become assertion failures with Prometheus's text."""
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{path} {params}: {error.read().decode()}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> Result:
        """An instant query's vector."""
        data = self.get("/api/v1/query", query=promql)
        result: Result = data["result"] if data["resultType"] == "vector" else [data["result"]]
        return result

    def wait(self, what: str, check: Callable[[], bool]) -> None:
        """Poll until ``check()`` holds, failing after DEADLINE with Prometheus's log tail."""
        deadline = time.monotonic() + DEADLINE
        while not check():
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited: {self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"gave up waiting for {what} after {DEADLINE:.0f}s")
            time.sleep(0.2)  # a polling period, not a wait for something to have happened

    def has(self, promql: str, labels: dict[str, str], value: float | None = None) -> bool:
        """True when ``promql`` returns a series with ``labels`` (and ``value``, if given)."""
        return any(
            labels.items() <= s["metric"].items()
            and (value is None or float(s["value"][1]) == value)
            for s in self.query(promql)
        )

    def lacks(self, promql: str, labels: dict[str, str]) -> bool:
        """True when ``promql`` returns no series with ``labels``."""
        return not self.has(promql, labels)

    def wait_value(self, promql: str, labels: dict[str, str], value: float) -> None:
        """Wait until the series of ``promql`` with ``labels`` has ``value``."""
        self.wait(f"{promql} {labels} == {value}", partial(self.has, promql, labels, value))

    def answers(self, promql: str) -> bool:
        """True when the query returns at least one series."""
        return bool(self.query(promql))

    def alerting(self, name: str, labels: dict[str, str] | None = None) -> bool:
        """True when alert ``name`` is pending or firing (for series with ``labels``)."""
        return self.has(f'ALERTS{{alertname="{name}"}}', labels or {})

    def quiet(self, name: str) -> bool:
        """True when alert ``name`` is neither pending nor firing."""
        return not self.alerting(name)


@contextmanager
def run_prometheus(target: str, folder: Path) -> Iterator[PromAPI]:
    """A real Prometheus scraping ``target`` every second and evaluating the rules."""
    need(Path(PROMETHEUS).is_file(), "prometheus (Debian package prometheus)")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "reconciler", "static_configs": [{"targets": [target]}]}],
    }
    (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    address = f"127.0.0.1:{free_port()}"
    log = folder / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={address}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = PromAPI(address, process, log)
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{api.base}/-/ready", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        api.wait("prometheus to be ready", ready)
        yield api
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
