"""`reconciler plan`, `once`, `status` and `run`: cycles against a config repo.

`run` and `once` hold the cache folder (reconciler.daemon.cachelock): they open requests,
and two of them on one cache would open each one twice. `plan` and `status` write nothing
but the clone's fetched refs, which git lets processes share, so they run beside a daemon
on its cache, as an operator does with `kubectl exec`.
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import timedelta
from pathlib import Path

from reconciler import presenting
from reconciler.clock import utc_now
from reconciler.daemon import CycleStatus, Daemon, install_signal_handlers
from reconciler.daemon.cachelock import CacheInUse, CacheLock, lock_cache
from reconciler.errors import ReconcilerError
from reconciler.logs import configure_logging
from reconciler.probes import PROBE_BUDGET
from reconciler.server import StatusServer
from reconciler.settings import Settings, from_args, has_repo
from reconciler.verbs import EXIT_INVALID, EXIT_OK, EXIT_USAGE, fail
from reconciler.webhooks import WebhookConfig, load_secret
from reconciler.wiring import Wired, build, connect, prepare

log = logging.getLogger("reconciler")

# Until the config repo is first fetched there is no policy, so no poll interval: the
# fetch is retried on this one, with the loop's backoff (10s, 20s ... 5 min).
CONNECT_INTERVAL = timedelta(seconds=5)
# With a policy that does not load and no last good one.
DEFAULT_INTERVAL = timedelta(seconds=30)


def _settings(args: argparse.Namespace, verb: str) -> Settings | None:
    if not has_repo(args):
        fail(verb, "--repo is required (a config repo path or URL, or RECONCILER_REPO)", EXIT_USAGE)
        return None
    return from_args(args)


def plan(args: argparse.Namespace) -> int:
    """Print what a cycle would do; write nothing."""
    settings = _settings(args, "plan")
    if settings is None:
        return EXIT_USAGE
    wired = build(settings)
    result = wired.runner.plan_only()
    if args.json:
        print(json.dumps(presenting.plan_json(result.plan), indent=2))
    else:
        print(presenting.plan_text(result.plan), end="")
    return EXIT_OK if result.observation.policy is not None else EXIT_INVALID


def _hold(settings: Settings, verb: str) -> CacheLock | None:
    """The cache folder, held for the rest of the process; None after saying who has it."""
    try:
        return lock_cache(settings.cache_dir)
    except CacheInUse as exc:
        fail(verb, str(exc), EXIT_USAGE)
        return None


def once(args: argparse.Namespace) -> int:
    """Run one cycle and print what it did."""
    settings = _settings(args, "once")
    if settings is None:
        return EXIT_USAGE
    held = _hold(settings, "once")
    if held is None:
        return EXIT_USAGE
    wired = build(settings)
    result = wired.runner.cycle(one_shot=True)
    # The notes say why nothing happened when the policy on main is refused (FILE:LINE:COL).
    print("".join(f"note: {note}\n" for note in result.plan.notes), end="")
    print(presenting.outcomes_text(result.outcomes), end="")
    print(presenting.blocked_text(result.plan.blocked), end="")
    print(result.summary())
    return EXIT_OK if result.ok and result.observation.policy is not None else EXIT_INVALID


def status(args: argparse.Namespace) -> int:
    """Per app and environment: desired, live, drift, gates, request."""
    settings = _settings(args, "status")
    if settings is None:
        return EXIT_USAGE
    wired = build(settings)
    result = wired.runner.plan_only()
    policy = result.observation.policy
    if policy is None:
        for error in result.observation.snapshot.policy_errors:
            print(error)
        return EXIT_INVALID
    rows = presenting.status_rows(policy, result.observation.snapshot, result.plan, utc_now())
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(presenting.status_text(rows), end="")
    return EXIT_OK


def local_path(repo: str | None) -> Path | None:
    """The folder behind ``--repo`` when it is on this machine (to watch it for changes)."""
    if not repo:
        return None
    candidate = Path(repo[len("file://") :] if repo.startswith("file://") else repo)
    return candidate if candidate.exists() else None


def run(args: argparse.Namespace) -> int:
    """The daemon: cycles on the poll interval and on changes, /metrics on --listen."""
    configure_logging(args.log_format)
    settings = _settings(args, "run")
    if settings is None:
        return EXIT_USAGE
    held = _hold(settings, "run")
    if held is None:
        return EXIT_USAGE
    prepared = prepare(settings)  # settings mistakes end here, before anything is served
    wired: Wired | None = None

    def cycle() -> CycleStatus:
        nonlocal wired
        if wired is None:
            # The first fetch is retried by the loop like any failed cycle: a config repo
            # that cannot be reached yet is no reason to exit (and be restarted in a loop).
            try:
                wired = connect(prepared, lambda: daemon.stop_requested)
            except ReconcilerError as exc:
                prepared.metrics.errors.labels(component="observe").inc()
                return CycleStatus(
                    ok=False,
                    policy_valid=False,
                    summary=f"cannot open the config repo yet, retrying with backoff: {exc}",
                )
        result = wired.runner.cycle()
        valid = result.observation.policy_valid
        return CycleStatus(
            ok=True,
            policy_valid=valid,
            summary=result.summary(),
            errors=sum(1 for o in result.outcomes if not o.ok),
            last_good_policy=not valid and result.observation.policy is not None,
        )

    def interval() -> timedelta:
        if wired is None:
            return CONNECT_INTERVAL
        policy = wired.runner.observer.last_good
        return policy.settings.poll_interval if policy else DEFAULT_INTERVAL

    daemon = Daemon(
        cycle,
        interval=interval,
        watch_path=local_path(args.repo),
        probing_budget=PROBE_BUDGET,
        on_rate_limit=prepared.metrics.forge_rate_limited,
    )
    secret_file = args.webhook_secret_file
    webhook = (
        WebhookConfig(secret=load_secret(secret_file), trigger=daemon.trigger)
        if secret_file is not None
        else None
    )
    server = StatusServer(args.listen, prepared.metrics, daemon.status, webhook=webhook).start()
    restore = install_signal_handlers(daemon)
    served = ", /webhook" if webhook else ""
    log.info(
        "reconciler serving /metrics, /healthz, /readyz%s on http://%s (cache %s held)",
        served,
        server.address,
        held.path.parent,
    )
    try:
        return daemon.run()
    finally:
        server.stop()
        restore()
