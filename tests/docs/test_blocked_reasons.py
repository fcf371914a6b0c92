"""The reasons docs/operations.md lists for `reconciler_blocked` are exactly the code's.

The metric's row names each reason in backquotes between "Reasons:" and "The full list";
`gate:<code>` there is the pattern, and each failing gate's code is listed as `gate:CODE`.
The code's set is reconciler.reasons.BlockedCode, whose `gate:` codes are one for each
GateFailure (what planning.promotion makes of a failing gate, through gate_blocked).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from reconciler.gates.results import GateFailure
from reconciler.reasons import BlockedCode

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
PATTERN = "gate:<code>"


def literal_values(hint: Any) -> set[str]:
    """The strings of a Literal, or of a union of Literals."""
    values: set[str] = set()
    for arg in get_args(hint):
        values |= literal_values(arg) if get_args(arg) else {arg}
    return values


def documented_reasons() -> set[str]:
    """The reasons the `reconciler_blocked` row of docs/operations.md lists."""
    rows = [
        line
        for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `reconciler_blocked{")
    ]
    assert len(rows) == 1, "docs/operations.md has one reconciler_blocked row"
    description = rows[0].split(" | ")[2]
    listed = description.partition("Reasons:")[2].partition("The full list")[0]
    assert listed, "the row lists its reasons after 'Reasons:'"
    names = re.findall(r"`([^`]+)`", listed)
    assert len(names) == len(set(names)), f"a reason is listed twice: {sorted(names)}"
    assert PATTERN in names, f"the row shows the pattern {PATTERN}"
    return set(names) - {PATTERN}


def test_the_doc_lists_every_blocked_reason_and_no_other() -> None:
    documented = documented_reasons()
    code = literal_values(BlockedCode)
    assert sorted(code - documented) == [], "reasons the doc does not list"
    assert sorted(documented - code) == [], "reasons the doc lists that the code does not have"


def test_each_failing_gate_code_is_a_blocked_reason() -> None:
    gates = {reason for reason in literal_values(BlockedCode) if reason.startswith("gate:")}
    assert gates == {f"gate:{code}" for code in literal_values(GateFailure)}
