"""A real `reconciler run --forge github` whose token's primary rate limit is spent, the reset
an hour away (GitHub: "Rate limits for the REST API"): the daemon says so once, shows it in
its metrics, sends GitHub nothing more while it waits, and a stop ends the wait at once."""

from __future__ import annotations

import signal
from pathlib import Path

from reconciler.demo.flow import QUICK, seed_files
from tests.integration.runproc import DaemonProcess
from tests.servers.github_sim import serve_github


def test_a_spent_limit_is_waited_for_silently_and_shown_in_the_metrics(tmp_path: Path) -> None:
    with serve_github(tmp_path / "config.git", owner="swiggy-platform", name="config") as sim:
        (tmp_path / "token").write_text(sim.add_user("reconciler") + "\n")
        sim.commit("main", seed_files("http://127.0.0.1:9", QUICK))
        sim.set_rate_limit("reconciler", limit=1, used=1)
        github = [
            "--forge",
            "github",
            "--github-repo",
            "swiggy-platform/config",
            "--github-url",
            sim.url,
            "--github-token-file",
            str(tmp_path / "token"),
        ]
        daemon = DaemonProcess("run", sim.git_path, tmp_path / "cache", *github)
        try:
            said = daemon.wait_for(lambda r: "; waiting until" in r["message"], "the wait")
            assert said["level"] == "warning"
            assert "rate limit is spent" in said["message"]
            asked = len(sim.exchanges)
            status, metrics = daemon.get("/metrics")
            assert status == 200
            assert "reconciler_forge_rate_limited 1.0" in metrics
            assert "reconciler_forge_rate_limit_waits_total 1.0" in metrics

            daemon.signal(signal.SIGTERM)
            assert daemon.finish() == 0
            # Nothing reached GitHub while the daemon waited: it would have been refused.
            assert len(sim.exchanges) == asked
            waits = [r for r in daemon.records() if "; waiting until" in r["message"]]
            assert len(waits) == 1
        finally:
            daemon.stop()
