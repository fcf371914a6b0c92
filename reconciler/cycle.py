"""One reconcile cycle: observe -> plan -> apply -> report (metrics and one log line)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from reconciler import drift
from reconciler.actions import Close, CommitDirect, Merge, Plan, Propose, action_key
from reconciler.applying import ActionOutcome, Applier
from reconciler.metrics import Gauges, Metrics, PairGauges
from reconciler.observing import Observation, Observer
from reconciler.phases import Stopwatch
from reconciler.planning.replanner import Replanner
from reconciler.policy import Policy
from reconciler.reasons import BlockedCode
from reconciler.snapshot import Snapshot

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
        self._last: _Memo | None = None
        self.replanner = Replanner()
        self._invalid_at: str | None = None  # the last base commit logged as invalid
        self.phases = phases or Stopwatch()
        self._first = True

    def plan_only(
        self, *, one_shot: bool = True, probe: bool = True, fetch: bool = True
    ) -> CycleReport:
        """Observe and plan; write nothing (`reconciler plan`, `status`). ``probe``: sample
        the HTTP gates (False: they are judged on the samples kept, none in a new process);
        ``fetch`` False: plan on what was fetched last (benchmarks time the two apart)."""
        started = self.clock()
        observation = self.observer.observe(one_shot=one_shot, probe=probe, fetch=fetch)
        return CycleReport(observation, self._plan(observation, self.clock()), started=started)

    def _plan(self, observation: Observation, now: datetime) -> Plan:
        """The plan; the replanner makes again only the apps whose facts changed, and gives
        the last plan object back when nothing did (its gauges are then reused too)."""
        last = self._last
        if observation.policy is None:
            made = Plan(notes=tuple(observation.snapshot.policy_errors))
        else:
            made = self.replanner.plan(observation.policy, observation.snapshot, now)
        if last is None or last.plan is not made:
            self._last = _Memo(observation.policy, observation.snapshot, made)
        return made

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
        result_plan = self._plan(observation, self.clock())
        self.phases.lap("plan")
        outcomes = tuple(self.applier.apply(result_plan, observation.snapshot.base_branch))
        self.phases.lap("apply")
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
        if first and not one_shot:
            self._log_phases()
        return result

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
        """The gauges; per-pair figures are reused while plan and snapshot stay the same
        and none of them grows with time."""
        last = self._last
        if last is not None and last.envs is not None and last.plan is result.plan:
            envs = last.envs
        else:
            envs, timed = env_reports(result, self.clock())
            if last is not None and last.plan is result.plan and not timed:
                self._last = replace(last, envs=envs)
        return Gauges(envs, result.observation.policy_valid, self.last_success)

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


@dataclass(frozen=True)
class _Memo:
    """The last plan, what it was made from, and its time-independent gauges if any."""

    policy: Policy | None
    snapshot: Snapshot
    plan: Plan
    envs: tuple[PairGauges, ...] | None = None


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


def env_reports(result: CycleReport, now: datetime) -> tuple[tuple[PairGauges, ...], bool]:
    """Each (app, env)'s gauges after a cycle (drift, lag, gates, pending, blocked), and
    whether any of them grows with ``now``."""
    observation = result.observation
    policy = observation.policy
    snap = observation.snapshot
    envs = []
    timed = False
    if policy is not None:
        pending = {action_key(a) for a in result.plan.actions if isinstance(a, (Propose, Merge))}
        pending |= set(snap.requests)
        gate_results: dict[tuple[str, str], list[tuple[str, bool]]] = {}
        for a, e, r in result.plan.gates:
            gate_results.setdefault((a, e), []).append((r.gate, r.passed))
        blocked_codes: dict[tuple[str, str], set[BlockedCode]] = {}
        for b in result.plan.blocked:
            blocked_codes.setdefault((b.app, b.env), set()).add(b.code)
        for env in policy.ordered():
            for app in policy.apps_in(env.name):
                key = (app.name, env.name)
                overlay = snap.overlays.get(key)
                desired = (
                    overlay.pin.digest if overlay and overlay.pin and overlay.pin.digest else None
                )
                pinned = drift.Pinned(desired, overlay.changed_at if overlay else None)
                live_state = snap.live.get(key)
                running = (
                    drift.Running(live_state.digest, live_state.since, live_state.rolling)
                    if live_state is not None
                    else None
                )
                judged = drift.drift(pinned, running)
                timed = timed or (judged.drifted and judged.since is not None)
                lag = 0.0
                if env.follows is not None:
                    src = snap.overlays.get((app.name, env.follows))
                    src_digest = src.pin.digest if src and src.pin and src.pin.digest else None
                    source = drift.Pinned(src_digest, src.changed_at if src else None)
                    lag = drift.lag_seconds(pinned, source, now)
                    trailing = source.digest is not None and desired != source.digest
                    timed = timed or (trailing and source.since is not None)
                envs.append(
                    PairGauges(
                        app=app.name,
                        env=env.name,
                        desired_digest=desired,
                        live_digest=live_state.digest if live_state else None,
                        drift=judged.drifted if judged.known else None,
                        drift_seconds=judged.seconds(now),
                        lag_seconds=lag,
                        pending=key in pending,
                        gates=tuple(gate_results.get(key, ())),
                        blocked=tuple(sorted(blocked_codes.get(key, ()))),
                        tag_drift=_tag_drift(snap, app.image, env.registry_tag, desired),
                    )
                )
    return tuple(envs), timed


def _tag_drift(snap: Snapshot, image: str, tag: str | None, desired: str | None) -> bool | None:
    """Whether the env's registry tag points elsewhere than git pins; None when unknown."""
    if not tag or desired is None:
        return None
    fact = snap.tags.get((image, tag))
    if fact is None or fact.error:
        return None
    return fact.digest != desired
