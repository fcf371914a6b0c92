"""A running `reconciler run` says where its first cycle spent its time, once: opening the
config repo, the fetch, reading the policy and N overlays, live reads, probes, plan, apply.

The daemon is the installed command with its JSON log read line by line (runproc.py).
"""

from __future__ import annotations

import signal
from pathlib import Path

from reconciler.demo.flow import QUICK, seed_files
from tests.integration.runproc import DaemonProcess, config_repo

PHASES = ["open", "fetch", "policy+overlays", "live", "registry", "history", "requests", "probes"]


def test_the_first_cycle_logs_its_phases_with_times_and_later_cycles_do_not(
    tmp_path: Path,
) -> None:
    repo = config_repo(tmp_path / "config.git", "http://127.0.0.1:9")
    overlays = [p for p in seed_files("http://127.0.0.1:9", QUICK) if p.startswith("overlays/")]
    daemon = DaemonProcess("run", repo, tmp_path / "cache")
    try:
        told = daemon.wait_for(lambda r: r.get("event") == "first-cycle", "the first cycle")
        daemon.wait_for(lambda r: r.get("event") == "cycle" and r["cycle"] == 3, "cycle 3")
        daemon.signal(signal.SIGTERM)
        assert daemon.finish() == 0
    finally:
        daemon.stop()

    phases = told["phases"]
    assert list(phases)[: len(PHASES)] == PHASES
    assert list(phases)[-2:] == ["plan", "apply"]
    assert all(isinstance(s, float | int) and s >= 0 for s in phases.values()), phases
    assert told["counts"] == {"policy+overlays": len(overlays)}
    assert (told["level"], told["logger"]) == ("info", "reconciler.cycle")
    message = told["message"]
    assert message.startswith("first cycle: open "), message
    assert f"policy+overlays ({len(overlays)}) " in message
    assert message.endswith("s in all)")
    firsts = [r for r in daemon.records() if r.get("event") == "first-cycle"]
    assert firsts == [told]
    # It is logged before the loop's own line for cycle 1, as part of that cycle.
    events = [(r.get("event"), r.get("cycle")) for r in daemon.records()]
    assert events.index(("first-cycle", None)) < events.index(("cycle", 1))
