"""The `checks` gate: the forge's check runs and commit statuses are green on a commit.

A pure verdict on what the forge reported (``reconciler.checksampling`` reads it): no
clock, no I/O. Of several checks with one name the latest counts (a check run re-run, a
status set again); a check not finished or not reported yet waits, a failed one blocks
with its name and link.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from fnmatch import fnmatchcase

from reconciler.forge.port import CommitCheck, CommitChecks
from reconciler.gates.results import GateCode, GateKind, GateResult
from reconciler.policy.gates import ChecksGate

CHECKS: GateKind = "checks"
_SHOWN = 3  # checks named in a reason; the rest are counted


def latest(checks: Iterable[CommitCheck]) -> dict[tuple[str, str], CommitCheck]:
    """The latest check of each (kind, name), by ``at`` (one without a time counts as the
    oldest; of equal times the one given last)."""
    found: dict[tuple[str, str], CommitCheck] = {}
    for check in checks:
        key = (check.kind, check.name)
        kept = found.get(key)
        if kept is None or (check.at is not None and (kept.at is None or check.at >= kept.at)):
            found[key] = check
    return found


def evaluate_checks(
    gate: ChecksGate,
    commit: str | None,
    read: CommitChecks | None,
    *,
    base_branch: str = "main",
    error: str | None = None,
    repository: str | None = None,
) -> GateResult:
    """Pass when every check ``gate`` names (and, with ``required``, every check
    ``base_branch`` requires) has passed on ``commit``, as ``read`` says.

    ``read`` of another commit proves nothing (the overlay moved since it was read);
    ``error`` is why the forge (or the image's labels) could not be read; ``repository``
    the source repository ``commit`` is in (None: the config repo). No clock: the verdict
    changes only with what the forge says.
    """

    def verdict(
        code: GateCode, reason: str, evidence: str, since: datetime | None = None
    ) -> GateResult:
        return GateResult(gate.name, CHECKS, code == "passed", code, reason, evidence, since)

    if error is not None:
        shown = f" on {commit[:12]}" if commit else ""
        return verdict("unknown", f"the checks{shown} could not be read: {error}", "unread")
    if commit is None and gate.commit == "source":
        why = "the candidate's source revision has not been read from its labels yet"
        return verdict("checks-pending", why, "revision unread")
    if commit is None:
        return verdict("unknown", "the source overlay's commit is not known", "commit unknown")
    at = commit[:12] + (f" of {repository}" if repository else "")
    if read is None or read.sha != commit:
        return verdict(
            "checks-pending", f"the checks on {at} have not been read yet", f"unread on {at}"
        )
    wanted = list(gate.checks)
    if gate.required:
        if not read.required:
            why = (
                "the forge has no branch protection to name required checks"
                if read.required is None
                else f"{base_branch} requires no status checks"
            )
            return verdict(
                "unknown",
                f"required = true, but {why}; name the checks in the gate's checks",
                "no required checks",
            )
        wanted += [name for name in read.required if name not in wanted]
    found = latest(read.checks)
    counted: dict[tuple[str, str], CommitCheck] = {}
    missing: list[str] = []
    for pattern in wanted:
        hits = {k: c for k, c in found.items() if c.name == pattern or fnmatchcase(c.name, pattern)}
        if not hits:
            missing.append(pattern)
        counted.update(hits)
    failed = [c for c in counted.values() if c.state == "failed"]
    if failed:
        return verdict(
            "checks-failed",
            f"check{'s' if len(failed) > 1 else ''} {_listed([_failure(c) for c in failed])} "
            f"on {at}",
            ", ".join(f"{c.name} {c.conclusion}" for c in failed) + f" on {at}",
        )
    waiting = [f"{c.name} ({c.conclusion})" for c in counted.values() if c.state == "pending"]
    waiting += [f"{name} (not reported yet)" for name in missing]
    if waiting:
        return verdict(
            "checks-pending",
            f"waiting for {_listed(waiting)} on {at}",
            f"{len(waiting)} waiting on {at}",
        )
    times = [c.at for c in counted.values() if c.at is not None]
    passed = [counted[key] for key in sorted(counted, key=lambda k: (k[1], k[0]))]
    return verdict(
        "passed",
        f"{_listed([f'{c.name} ({c.conclusion})' for c in passed])} passed on {at}",
        f"{', '.join(dict.fromkeys(c.name for c in passed))} green on {at}",
        max(times) if times else None,
    )


def _failure(check: CommitCheck) -> str:
    link = f" ({check.url})" if check.url else ""
    return f"{check.name} {check.conclusion}{link}"


def _listed(items: Sequence[str]) -> str:
    shown = "; ".join(items[:_SHOWN])
    more = len(items) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
