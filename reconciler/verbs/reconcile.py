"""`reconciler plan`, `once`, `status` and `run`: cycles against a config repo."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import timedelta
from pathlib import Path

from reconciler import presenting
from reconciler.daemon import CycleOutcome, Daemon, install_signal_handlers
from reconciler.logs import configure_logging
from reconciler.server import StatusServer
from reconciler.settings import Settings, from_args, has_repo
from reconciler.verbs import EXIT_INVALID, EXIT_OK, EXIT_USAGE, fail
from reconciler.webhooks import WebhookConfig, load_secret
from reconciler.wiring import Wired, build, utc_now

log = logging.getLogger("reconciler")


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
    result = wired.reconciler.plan_only()
    if args.json:
        print(json.dumps(presenting.plan_json(result.plan), indent=2))
    else:
        print(presenting.plan_text(result.plan), end="")
    return EXIT_OK if result.observation.policy is not None else EXIT_INVALID


def once(args: argparse.Namespace) -> int:
    """Run one cycle and print what it did."""
    settings = _settings(args, "once")
    if settings is None:
        return EXIT_USAGE
    wired = build(settings)
    result = wired.reconciler.cycle(one_shot=True)
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
    result = wired.reconciler.plan_only()
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


def built(args: argparse.Namespace, verb: str) -> Wired | None:
    """Settings checked and adapters built, or None after printing why not."""
    settings = _settings(args, verb)
    return build(settings) if settings is not None else None


def run(args: argparse.Namespace) -> int:
    """The daemon: cycles on the poll interval and on changes, /metrics on --listen."""
    configure_logging(args.log_format)
    wired = built(args, "run")
    if wired is None:
        return EXIT_USAGE
    reconciler = wired.reconciler
    metrics = wired.metrics

    def cycle() -> CycleOutcome:
        result = reconciler.cycle()
        valid = result.observation.policy_valid
        return CycleOutcome(
            ok=True,
            policy_valid=valid,
            summary=result.summary(),
            errors=sum(1 for o in result.outcomes if not o.ok),
            last_good_policy=not valid and result.observation.policy is not None,
        )

    def interval() -> timedelta:
        policy = reconciler.observer.last_good
        return policy.settings.poll_interval if policy else timedelta(seconds=30)

    daemon = Daemon(cycle, interval=interval, watch_path=local_path(args.repo))
    secret_file = args.webhook_secret_file
    webhook = (
        WebhookConfig(secret=load_secret(secret_file), trigger=daemon.trigger)
        if secret_file is not None
        else None
    )
    server = StatusServer(args.listen, metrics, daemon.status, webhook=webhook).start()
    restore = install_signal_handlers(daemon)
    served = ", /webhook" if webhook else ""
    log.info(
        "reconciler serving /metrics, /healthz, /readyz%s on http://%s", served, server.address
    )
    try:
        return daemon.run()
    finally:
        server.stop()
        restore()
