from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI runs every property test on the same inputs (a failure there reproduces locally with
# HYPOTHESIS_PROFILE=ci); elsewhere each run explores new ones. The example budgets are
# set per test; RECONCILER_FUZZ_SCALE multiplies those of tests/property/test_hostile_*.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "promotion-policies/examples").iterdir() if p.is_dir())


@pytest.fixture
def root() -> Path:
    """The project's checkout."""
    return ROOT


def need(available: bool, what: str) -> None:
    """Skip a test whose real service is missing locally; fail it loudly in CI."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: .ci/run must install it", pytrace=False)
    pytest.skip(f"{what} is not installed here")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: send the figures recorded here to the controlling process."""
    from tests import figures

    sent = getattr(session.config, "workeroutput", None)
    if sent is not None:
        sent["figures"] = figures.export()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """In the controlling process: take in the figures a finished worker recorded."""
    from tests import figures

    recorded = getattr(node, "workeroutput", {}).get("figures")
    if recorded:
        figures.merge(recorded)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the reliability tests recorded (tests/figures.py)."""
    from tests import figures

    rows = figures.summary()
    if rows:
        terminalreporter.section("figures")
        for row in rows:
            terminalreporter.write_line(row)
