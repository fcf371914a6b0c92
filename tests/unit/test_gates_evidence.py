"""The evidence humans approve: the PR body table and the Gate-Evidence trailer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.gates import (
    TRAILER,
    Candidate,
    GateResult,
    Sample,
    evaluate,
    evidence_table,
    evidence_trailer,
    merge_delay,
)
from reconciler.policy.model import HttpGate, SoakGate, WindowGate
from reconciler.policy.values import parse_weekly_window

NEW = "sha256:" + "0123abcd" * 8
NOW = datetime(2026, 5, 11, 6, 0, tzinfo=UTC)  # Monday 11:30 in Kolkata
HEALTH = HttpGate(
    name="staging-health", kind="http", url="https://staging.{app}.example/healthz", successes=3
)
SOAK = SoakGate(name="soak", kind="soak", duration=timedelta(minutes=30))
HOURS = WindowGate(
    name="business-hours",
    kind="window",
    allow=(parse_weekly_window("Mon-Fri 09:00-17:00 Asia/Kolkata"),),
)


def results(binding: str = "live", health_ok: bool = True) -> list[GateResult]:
    candidate = Candidate(
        "order-gateway",
        "staging",
        NEW,
        NOW - timedelta(minutes=45),
        "live" if binding == "live" else "overlay",
    )
    samples = [
        Sample(
            gate="staging-health",
            app="order-gateway",
            env="staging",
            taken_at=NOW - timedelta(seconds=s),
            ok=health_ok or s != 10,
            detail="status 200" if health_ok or s != 10 else "status 503, expected 200",
            live_digest=NEW,
        )
        for s in (40, 30, 20, 10)
    ]
    return [
        evaluate(HEALTH, samples, candidate, NOW),
        evaluate(SOAK, samples, candidate, NOW),
        evaluate(HOURS, samples, candidate, NOW),
        merge_delay(timedelta(minutes=5), NOW - timedelta(minutes=7), NOW),
    ]


def test_evidence_table() -> None:
    assert evidence_table(results()) == (
        "| Gate | Kind | Result | Evidence | Since |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| `staging-health` | http | passed | 4 consecutive ok on sha256:0123abcd, need 3 "
        "| 2026-05-11T05:59:40Z |\n"
        "| `soak` | soak | passed | live 45m on sha256:0123abcd, need 30m "
        "| 2026-05-11T05:45:00Z |\n"
        "| `business-hours` | window | passed | inside Mon-Fri 09:00-17:00 Asia/Kolkata "
        "| 2026-05-11T03:30:00Z |\n"
        "| `merge_delay` | merge-delay | passed | approved 7m ago, need 5m "
        "| 2026-05-11T05:58:00Z |\n"
    )


def test_evidence_table_notes_a_weak_binding_and_blocked_gates() -> None:
    assert evidence_table(results("overlay", health_ok=False)[:2]) == (
        "| Gate | Kind | Result | Evidence | Since |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| `staging-health` | http | blocked | 0 consecutive ok on sha256:0123abcd, need 3, "
        "weak binding | 2026-05-11T05:59:50Z |\n"
        "| `soak` | soak | passed | live 45m on sha256:0123abcd, need 30m, weak binding "
        "| 2026-05-11T05:45:00Z |\n"
        "\n"
        "Weak binding: no live source is configured for the source environment, so samples "
        "and soak time count from the source overlay's commit, not from what is running.\n"
    )


def test_evidence_trailer() -> None:
    assert TRAILER == "Gate-Evidence"
    assert evidence_trailer(results()) == (
        "staging-health=pass (4 consecutive ok on sha256:0123abcd, need 3); "
        "soak=pass (live 45m on sha256:0123abcd, need 30m); "
        "business-hours=pass (inside Mon-Fri 09:00-17:00 Asia/Kolkata); "
        "merge_delay=pass (approved 7m ago, need 5m)"
    )


def test_no_gates() -> None:
    assert evidence_table([]) == "No gates guard this promotion.\n"
    assert evidence_trailer([]) == "none"


def test_cells_and_trailer_stay_one_line_and_unambiguous() -> None:
    odd = GateResult(
        gate="odd",
        kind="http",
        passed=False,
        code="failing",
        reason="r",
        evidence="a | b; c\nd <script>",
    )
    assert evidence_table([odd]).splitlines()[2] == (
        "| `odd` | http | blocked | a \\| b; c d &lt;script> | - |"
    )
    assert evidence_trailer([odd]) == "odd=block (a | b, c d <script>)"
