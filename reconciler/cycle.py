"""One reconcile cycle: observe -> plan -> apply -> report (metrics and one log line)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.actions import Close, CommitDirect, Merge, Plan, Propose, action_key
from reconciler.applying import ActionOutcome, Applier
from reconciler.metrics import Gauges, Metrics
from reconciler.observing import Observation, Observer
from reconciler.pairgauges import GaugeKeeper
from reconciler.phases import Stopwatch
from reconciler.planning.replanner import Replanner
from reconciler.revisions import changed_keys
from reconciler.snapshot import Key, OverlayState

log = logging.getLogger("reconciler.cycle")

# Outcomes that each happen once per promotion step, so a follow-up cannot repeat forever.
_MOVED = frozenset({"opened", "merged", "committed"})


@dataclass(frozen=True)
class CycleReport:
    """What a cycle saw, decided and did."""

    observation: Observation
    plan: Plan
    outcomes: tuple[ActionOutcome, ...] = ()
    started: datetime | None = None
    seconds: float = 0.0
    errors: tuple[str, ...] = field(default=())

    @property
    def moved(self) -> bool:
        """A request opened, or a promotion merged or committed: the next step (merging it,
        the next environment) is for the next cycle, which need not wait for a poll."""
        return any(o.ok and o.result in _MOVED for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """True when every action succeeded."""
        return all(o.ok for o in self.outcomes) and not self.errors

    def summary(self) -> str:
        """The one log line of the cycle: ``commit=… apps=… actions=… blocked=… took=…``."""
        policy = self.observation.policy
        apps = len(policy.apps) if policy else 0
        done = ",".join(f"{o.result}:{'/'.join(action_key(o.action))}" for o in self.outcomes)
        valid = "valid" if self.observation.policy_valid else "INVALID(last-good-in-force)"
        failed = sum(1 for o in self.outcomes if not o.ok)
        return (
            f"commit={self.observation.snapshot.base_commit[:12]} apps={apps} "
            f"actions={len(self.outcomes)}{'[' + done + ']' if done else ''} failed={failed} "
            f"blocked={len(self.plan.blocked)} policy={valid} took={self.seconds:.2f}s"
        )


class CycleRunner:
    """Runs cycles with one observer, one applier and one metrics registry."""

    def __init__(
        self,
        observer: Observer,
        applier: Applier,
        metrics: Metrics,
        clock: Callable[[], datetime],
        *,
        phases: Stopwatch | None = None,
    ) -> None:
        """``phases``: the observer's stopwatch, holding what came before the first cycle
        (opening the repo); the first cycle's phases are logged once, at its end."""
        self.observer = observer
        self.applier = applier
        self.metrics = metrics
        self.clock = clock
        self.last_success: float | None = None
        self._blocked: set[tuple[str, str, str]] = set()
        self.replanner = Replanner()
        self.gauges = GaugeKeeper()
        self._invalid_at: str | None = None  # the last base commit logged as invalid
        self.phases = phases or Stopwatch()
        self._first = True
        # Told each cycle's report after its metrics (the notifier); one failing is logged.
        self.after: list[Callable[[CycleReport], None]] = []
        self._overlays_seen: Mapping[Key, OverlayState] | None = None  # at the last cycle

    def plan_only(
        self, *, one_shot: bool = True, probe: bool = True, fetch: bool = True
    ) -> CycleReport:
        """Observe and plan; write nothing (`reconciler plan`, `status`). ``probe``: sample
        the HTTP gates (False: they are judged on the samples kept, none in a new process);
        ``fetch`` False: plan on what was fetched last (benchmarks time the two apart)."""
        started = self.clock()
        observation = self.observer.observe(one_shot=one_shot, probe=probe, fetch=fetch)
        plan = self._plan(observation, self.clock())
        self.observer.keep(one_shot=one_shot)
        return CycleReport(observation, plan, started=started)

    def _plan(self, observation: Observation, now: datetime) -> Plan:
        """The plan; the replanner makes again only the apps whose facts changed, and gives
        the last plan object back when nothing did (its gauges are then reused too)."""
        if observation.policy is None:
            return Plan(notes=tuple(observation.snapshot.policy_errors))
        return self.replanner.plan(observation.policy, observation.snapshot, now)

    def cycle(self, *, one_shot: bool = False) -> CycleReport:
        """One whole cycle; errors in one action never stop the others.

        ``one_shot`` for a process that runs a single cycle (`reconciler once`): gates then
        take all the samples their streak needs within the cycle.
        """
        begin = time.monotonic()
        started = self.clock()
        first, self._first = self._first, False
        if first:
            self.phases.resume()  # the laps before the first cycle belong to it
        else:
            self.phases.restart()
        try:
            observation = self.observer.observe(one_shot=one_shot)
        except Exception:
            # Counted here, once; the daemon logs it and tries again next cycle.
            self.metrics.errors.labels(component="observe").inc()
            self.metrics.duration.observe(time.monotonic() - begin)
            raise
        if not one_shot:  # a one-shot verb prints the problems itself
            self._log_policy(observation)
        self._count_rollbacks(observation.snapshot.overlays)
        result_plan = self._plan(observation, self.clock())
        self.phases.lap("plan")
        outcomes = tuple(self.applier.apply(result_plan, observation.snapshot.base_branch))
        self.phases.lap("apply")
        self.observer.keep(one_shot=one_shot)
        for outcome in outcomes:
            if isinstance(outcome.action, (Propose, Merge, CommitDirect, Close)):
                self.metrics.promotions.labels(env=outcome.action.env, result=outcome.result).inc()
            fields = action_fields(outcome)
            if not outcome.ok:
                self.metrics.errors.labels(component="apply").inc()
                log.warning("action failed: %s", outcome.detail, extra=fields)
            else:
                log.info("%s", outcome.detail, extra=fields)
        self._log_blocked(result_plan)
        seconds = time.monotonic() - begin
        self.metrics.duration.observe(seconds)
        self.last_success = time.time()
        result = CycleReport(observation, result_plan, outcomes, started, seconds)
        self.metrics.publish(self._report(result))
        for hook in self.after:
            try:
                hook(result)
            except Exception as error:  # a hook's failure is no cycle's failure
                self.metrics.errors.labels(component="notify").inc()
                log.warning("after the cycle: %s", _type_and_place(error))
        if first and not one_shot:
            self._log_phases()
        return result

    def _count_rollbacks(self, overlays: Mapping[Key, OverlayState]) -> None:
        """Count each rollback that landed since the last cycle, whoever merged or committed
        it (this daemon, a person on the forge, `reconciler rollback` straight to the
        branch): an overlay whose newest commit is new, and a rollback. What landed before
        this process started, or while an app was not planned, is history, not news."""
        last, self._overlays_seen = self._overlays_seen, overlays
        if last is None:
            return
        for key in changed_keys(last, overlays):
            state, old = overlays.get(key), last.get(key)
            if state is None or old is None or not state.history or state.commit == old.commit:
                continue
            newest = state.history[-1]
            if newest.commit == state.commit and newest.rollback is not None:
                self.metrics.rollbacks.labels(app=key[0], env=key[1]).inc()

    def _log_phases(self) -> None:
        """Where the first cycle spent its time: a slow start-up says which part was slow."""
        laps = self.phases.laps
        seconds = round(sum(laps.values()), 3)
        log.info(
            "first cycle: %s (%.1fs in all)",
            self.phases.text(),
            seconds,
            extra={
                "event": "first-cycle",
                "phases": laps,
                "counts": self.phases.counts,
                "seconds": seconds,
            },
        )

    def _report(self, result: CycleReport) -> Gauges:
        """The gauges; per-pair figures are made again only for the apps planned again
        since the last cycle and those whose figures grow with time."""
        observation = result.observation
        envs = self.gauges.report(
            observation.policy,
            observation.snapshot,
            result.plan,
            self.clock(),
            self.replanner.take_changed(),
        )
        return Gauges(envs, observation.policy_valid, self.last_success)

    def _log_policy(self, observation: Observation) -> None:
        """Say when the base branch's policy is invalid, with every FILE:LINE:COL problem,
        once per commit, and when a later commit makes it valid again: not every cycle."""
        snap = observation.snapshot
        commit = snap.base_commit
        if observation.policy_valid:
            if self._invalid_at is not None:
                log.info(
                    "policy valid again at commit %s on %s",
                    commit[:12],
                    snap.base_branch,
                    extra={"event": "policy-valid", "commit": commit, "branch": snap.base_branch},
                )
                self._invalid_at = None
            return
        if commit == self._invalid_at:
            return
        self._invalid_at = commit
        in_force = (
            "the last good policy stays in force"
            if observation.policy is not None
            else "no valid policy yet: nothing is promoted until it is fixed"
        )
        problems = snap.policy_errors
        log.warning(
            "policy INVALID at commit %s on %s (%s), %d problem%s: %s",
            commit[:12],
            snap.base_branch,
            in_force,
            len(problems),
            "" if len(problems) == 1 else "s",
            " | ".join(problems),
            extra={
                "event": "policy-invalid",
                "commit": commit,
                "branch": snap.base_branch,
                "last_good_policy": observation.policy is not None,
                "policy_errors": list(problems),
            },
        )

    def _log_blocked(self, current: Plan) -> None:
        """Say when a promotion becomes blocked, and when it stops being: not every cycle."""
        now = {(b.app, b.env, b.code): b for b in current.blocked}
        for key in sorted(now.keys() - self._blocked):
            b = now[key]
            since = f" (since {b.since:%Y-%m-%dT%H:%M:%SZ})" if b.since else ""
            log.info("blocked %s -> %s: [%s] %s%s", b.app, b.env, b.code, b.reason, since)
        for app, env, code in sorted(self._blocked - now.keys()):
            log.info("no longer blocked %s -> %s: %s", app, env, code)
        self._blocked = set(now)


def _type_and_place(error: Exception) -> str:
    """An unexpected error's type and where it was raised, never its message (a library's
    message may quote a URL holding a credential)."""
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f" at {frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else ""
    return f"{type(error).__name__}{where}"


def action_fields(outcome: ActionOutcome) -> dict[str, object]:
    """Stable keys of an action's log line, for JSON logs: app, env, digest, pr, action."""
    action = outcome.action
    app, env = action_key(action)
    digest = getattr(action, "digest", None) or getattr(
        getattr(action, "pin", None), "digest", None
    )
    return {
        "app": app,
        "env": env,
        "digest": digest,
        "pr": getattr(action, "number", None),
        "action": outcome.result,
    }
