"""What a cycle reports to the loop, and what the loop reports about cycles (no secrets)."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from pathlib import Path

import reconciler
from reconciler.errors import ReconcilerError

_OUR_CODE = str(Path(reconciler.__file__).resolve().parent) + "/"
_LOOP = _OUR_CODE + "daemon/"  # the loop calling the cycle: never the interesting frame


@dataclass(frozen=True)
class CycleStatus:
    """What one cycle reports back to the loop.

    ``ok``: the cycle completed, even if some apps failed (False: it could not, e.g. the fetch
    failed, and the loop backs off). ``policy_valid``: the base branch's policy loaded.
    ``last_good_policy``: it did not, and the cycle ran on the last good one instead.
    ``summary`` is the cycle's log line; ``errors`` counts the apps or actions that failed.
    ``invalid_commit``: the base branch commit whose policy is invalid, when it is, and
    ``policy_problems`` how many problems its validation found (each logged at WARNING).
    ``wake_in``: seconds until the next cycle is wanted (a gate sample falls due, or 0 to
    follow up the cycle's own writes), when sooner than the poll; None when nothing is due.
    """

    ok: bool
    policy_valid: bool
    summary: str
    errors: int = 0
    last_good_policy: bool = False
    invalid_commit: str | None = None
    policy_problems: int = 0
    wake_in: float | None = None

    @property
    def usable_policy(self) -> bool:
        """The cycle decided with some valid policy, the current one or the last good one."""
        return self.policy_valid or self.last_good_policy


@dataclass(frozen=True)
class CycleRun:
    """One finished cycle, as handed to the ``on_cycle`` hook (metrics)."""

    number: int
    trigger: str  # why it ran: "start", "poll", "retry 2", or the reasons given to trigger()
    duration: float  # seconds, by the daemon's clock
    status: CycleStatus | None  # None: the cycle raised
    error: str | None = None  # the exception, as describe_error() puts it


@dataclass(frozen=True)
class DaemonStats:
    """Counters since the daemon started."""

    cycles: int = 0
    failures: int = 0  # cycles that raised or returned ok=False
    exceptions: int = 0  # cycles that raised
    consecutive_failures: int = 0


def describe_error(exc: BaseException) -> str:
    """The type, and the message only for our own errors (which never carry secrets).

    Any other exception (a bug, or a library's error that may quote a URL or a header) is
    shown with the place it escaped from our code instead of its message.
    """
    name = type(exc).__name__
    if isinstance(exc, ReconcilerError):
        return f"{name}: {exc}"
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_LOOP)
    ]
    ours = [f for f in frames if f.filename.startswith(_OUR_CODE)]
    place = "".join(
        f" at {Path(f.filename).name}:{f.lineno} in {f.name}" for f in (ours or frames)[-1:]
    )
    return f"{name}{place} (message withheld: not a reconciler error)"


def readiness(number: int, outcome: CycleStatus | None, error: str | None, *, ready: bool) -> str:
    """The /readyz reason after cycle ``number``: ready or not, and how that cycle went."""
    if outcome is None:
        last = f"cycle {number} failed: {error}"
    elif not outcome.ok:
        last = f"cycle {number} could not complete: {outcome.summary}"
    elif outcome.last_good_policy:
        last = f"cycle {number} ran on the last good policy: {_invalid(outcome)}"
    elif not outcome.policy_valid:
        last = (
            f"cycle {number} found no valid policy: {_invalid(outcome)}; fix promotions.toml "
            "on the base branch"
        )
    else:
        last = f"cycle {number} ok"
    return ("ready; " if ready else "not ready; ") + last


def log_cycle(log: logging.Logger, run: CycleRun, consecutive_failures: int) -> None:
    """One finished cycle's line: INFO when it went well, WARNING when some of it failed,
    ERROR when it raised (``consecutive_failures`` counting it)."""
    extra: dict[str, object] = {
        "event": "cycle",
        "cycle": run.number,
        "trigger": run.trigger,
        "duration_seconds": round(run.duration, 3),
    }
    outcome = run.status
    if outcome is None:
        extra.update(ok=False, error=run.error, consecutive_failures=consecutive_failures)
        log.error(
            "cycle %d (%s) raised after %.2fs: %s",
            run.number,
            run.trigger,
            run.duration,
            run.error,
            extra=extra,
        )
        return
    extra.update(
        ok=outcome.ok,
        errors=outcome.errors,
        policy_valid=outcome.policy_valid,
        last_good_policy=outcome.last_good_policy,
    )
    level = logging.INFO if outcome.ok and not outcome.errors else logging.WARNING
    state = "ok" if outcome.ok else "incomplete"
    log.log(
        level,
        "cycle %d (%s) %s in %.2fs: %s",
        run.number,
        run.trigger,
        state,
        run.duration,
        outcome.summary,
        extra=extra,
    )


def _invalid(outcome: CycleStatus) -> str:
    """Which commit's policy is invalid, and where its problems are told."""
    if outcome.invalid_commit is None:
        return "the base branch's policy is invalid"
    count = outcome.policy_problems
    problems = f"{count} problem{'' if count == 1 else 's'}, " if count else ""
    return (
        f"the policy at commit {outcome.invalid_commit[:12]} of the base branch is invalid "
        f"({problems}logged at WARNING)"
    )
