"""Figures the reliability tests measure, printed at the end of the pytest run.

Tests record what they tried (fuzz inputs and crashes, webhook abuse outcomes) here; the
root conftest prints every line in a "figures" section, so the numbers are visible in CI
output without -s. Under pytest-xdist each worker records its own, and sends them to the
controlling process when it finishes (tests/conftest.py), which prints them all. A crash
is counted and then re-raised, so the test still fails on it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

LINES: list[str] = []
INPUTS: Counter[str] = Counter()
CRASHES: Counter[str] = Counter()


def line(text: str) -> None:
    """Print ``text`` in the figures section at the end of the run."""
    LINES.append(text)


def fuzz(target: str, call: Callable[[], T], refusals: tuple[type[BaseException], ...]) -> T | None:
    """Run one fuzz input against ``target``: None when it was refused with one of
    ``refusals`` (a clear error is the right answer to hostile input); anything else
    raised is a crash, counted and re-raised."""
    INPUTS[target] += 1
    try:
        return call()
    except refusals:
        return None
    except BaseException:
        CRASHES[target] += 1
        raise


def examples(budget: int) -> int:
    """A fuzz test's example budget, times RECONCILER_FUZZ_SCALE for a longer run."""
    return budget * max(1, int(os.environ.get("RECONCILER_FUZZ_SCALE", "1")))


def export() -> dict[str, Any]:
    """What this process recorded, as plain data (a pytest-xdist worker sends it home)."""
    return {"lines": list(LINES), "inputs": dict(INPUTS), "crashes": dict(CRASHES)}


def merge(recorded: dict[str, Any]) -> None:
    """Add what another process recorded (``export``) to this one's figures."""
    LINES.extend(recorded["lines"])
    INPUTS.update(recorded["inputs"])
    CRASHES.update(recorded["crashes"])


def summary() -> list[str]:
    """One line per fuzz target, then the total, then the other recorded lines."""
    rows = [
        f"fuzz {target}: inputs={INPUTS[target]} crashes={CRASHES[target]}"
        for target in sorted(INPUTS)
    ]
    if INPUTS:
        total, crashes = sum(INPUTS.values()), sum(CRASHES.values())
        rows.append(f"fuzz inputs={total} crashes={crashes}")
    return rows + LINES
