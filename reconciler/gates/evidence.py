"""Gate evidence as humans read it in a promotion PR and in its commit's trailer."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.gates.results import GateResult, stamp

TRAILER = "Gate-Evidence"
WEAK_NOTE = (
    "Weak binding: no live source is configured for the source environment, so samples "
    "and soak time count from the source overlay's commit, not from what is running."
)


def evidence_table(results: Sequence[GateResult]) -> str:
    """A Markdown table of gate results, one row each, in the order given."""
    if not results:
        return "No gates guard this promotion.\n"
    lines = [
        "| Gate | Kind | Result | Evidence | Since |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in results:
        since = stamp(result.since) if result.since else "-"
        lines.append(
            f"| `{result.gate}` | {result.kind} | {'passed' if result.passed else 'blocked'} "
            f"| {_cell(result.evidence)} | {since} |"
        )
    if any(r.weak_binding for r in results):
        lines += ["", WEAK_NOTE]
    return "\n".join(lines) + "\n"


def evidence_trailer(results: Sequence[GateResult]) -> str:
    """The one-line value of the ``Gate-Evidence:`` commit trailer."""
    if not results:
        return "none"
    return "; ".join(
        f"{r.gate}={'pass' if r.passed else 'block'} ({_inline(r.evidence)})" for r in results
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _inline(text: str) -> str:
    # No ";" inside an entry, so that the trailer's separator stays unambiguous.
    return _one_line(text).replace(";", ",")


def _cell(text: str) -> str:
    return _one_line(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
