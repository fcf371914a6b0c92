"""`reconciler plan`, `once`, `status` and `run`: cycles against a config repo.

`run` and `once` hold the cache folder (reconciler.daemon.cachelock): they open requests,
and two of them on one cache would open each one twice. `plan` and `status` write nothing
but the clone's fetched refs, which git lets processes share, so they run beside a daemon
on its cache, as an operator does with `kubectl exec`.

`run` checks everything that needs neither the network nor the config repo before it
starts (settings, the files they name, a local repo's folder, the cache, the --listen
port): a mistake there is one line on stderr and exit 2, since retrying cannot fix it.
`once`, `plan` and `status` run once, so what they print promises no next cycle
(``one_shot``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from reconciler import collector, overview, presenting
from reconciler.clock import utc_now
from reconciler.cycle import CycleReport
from reconciler.daemon import Cadence, CycleStatus, Daemon, install_signal_handlers
from reconciler.daemon.cachelock import CacheLock, lock_cache
from reconciler.errors import PolicyError, ReconcilerError, one_shot, os_reason
from reconciler.forwarding import Forwarder, peer_label
from reconciler.gitrepo.remote import parse_remote
from reconciler.httpclient.client import HttpClient
from reconciler.logs import configure_logging, configure_one_shot_logging
from reconciler.probes import PROBE_BUDGET
from reconciler.server import StatusServer
from reconciler.settings import Settings, from_args, has_repo
from reconciler.shards import peer_urls
from reconciler.verbs import EXIT_INVALID, EXIT_OK, EXIT_USAGE, fail, fleet_json
from reconciler.webhooks import WebhookConfig, load_secret
from reconciler.wiring import Prepared, Wired, build, connect, prepare, repo_url

log = logging.getLogger("reconciler")

NOT_PROBED = (
    "HTTP and checks gates were not sampled: a process of its own has no samples, so they "
    "show none (--probe samples them now; `status --daemon URL` shows the running daemon's)"
)

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


def _say(text: str) -> None:
    """Print what a one-shot verb found (text or JSON; the rewrite never meets a character
    JSON escapes, so rewriting the document is rewriting each of its strings)."""
    print(one_shot(text), end="")


def _one_shot() -> None:
    """Warnings logged while a one-shot verb runs, on stderr, with no next-cycle promises."""
    configure_one_shot_logging(one_shot)


def _probes(args: argparse.Namespace) -> bool:
    """Whether this verb samples the HTTP gates: `once --dry-run` does, as `once` would."""
    return bool(getattr(args, "probe", False)) or args.verb == "once"


def _observed(args: argparse.Namespace, verb: str) -> tuple[CycleReport, bool] | int:
    """`plan`'s and `status`'s cycle without writes, and whether it sampled the gates; the
    exit code instead when it could not run."""
    settings = _settings(args, verb)
    if settings is None:
        return EXIT_USAGE
    _one_shot()
    probe = _probes(args)
    try:
        return build(settings).runner.plan_only(probe=probe), probe
    except ReconcilerError as exc:
        return fail(verb, one_shot(str(exc)))


# `plan` and `status` build the whole desired state and plan, print them and exit: the
# cyclic collector would only walk what they build (0.7 s of `status` at 10,000 apps).
@collector.paused()
def plan(args: argparse.Namespace) -> int:
    """Print what a cycle would do; write nothing."""
    observed = _observed(args, "plan")
    if isinstance(observed, int):
        return observed
    result, probe = observed
    if args.json:
        document = presenting.plan_json(result.plan) | {"probed": probe}
        _say(json.dumps(document, indent=2) + "\n")
    else:
        if not probe and _has_sampled_gates(result):
            _say(f"note: {NOT_PROBED}\n")
        _say(presenting.plan_text(result.plan))
    return EXIT_OK if result.observation.policy is not None else EXIT_INVALID


def _hold(settings: Settings, verb: str) -> CacheLock | None:
    """The cache folder, held for the rest of the process; None after saying why not
    (another process holds it, or it cannot be made)."""
    try:
        return lock_cache(settings.cache_dir)
    except ReconcilerError as exc:
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
    _one_shot()
    try:
        wired = build(settings)
        try:
            result = wired.runner.cycle(one_shot=True)
        finally:
            wired.close()  # lets notifications in flight end (bounded) and records them
    except ReconcilerError as exc:
        return fail("once", one_shot(str(exc)))
    # The notes say why nothing happened when the policy on main is refused (FILE:LINE:COL).
    _say("".join(f"note: {note}\n" for note in result.plan.notes))
    _say(presenting.outcomes_text(result.outcomes))
    _say(presenting.blocked_text(result.plan.blocked))
    print(result.summary())
    return EXIT_OK if result.ok and result.observation.policy is not None else EXIT_INVALID


def _has_sampled_gates(result: CycleReport) -> bool:
    """Whether the policy has gates only --probe samples in a one-shot process (an HTTP
    gate's probes, a checks gate's reads of the forge)."""
    policy = result.observation.policy
    return policy is not None and any(g.kind in overview.SAMPLED for g in policy.gates.values())


@collector.paused()
def status(args: argparse.Namespace) -> int:
    """Per app and environment: desired, live, drift, gates, request, read from the repo
    (`status --daemon` is reconciler.verbs.status's, which needs none of this module)."""
    observed = _observed(args, "status")
    if isinstance(observed, int):
        return observed
    result, probe = observed
    policy = result.observation.policy
    if policy is None:
        for error in result.observation.snapshot.policy_errors:
            print(error)
        return EXIT_INVALID
    now = utc_now()
    origin = overview.Origin("repo", probed=probe or not _has_sampled_gates(result))
    view = overview.document(policy, result.observation.snapshot, result.plan, now, origin)
    if args.json:
        _say(fleet_json(view))
    else:
        _say(overview.text(view, now))
    return EXIT_OK


def local_path(repo: str | None) -> Path | None:
    """The folder behind ``--repo`` when it is on this machine (to watch it for changes)."""
    if not repo:
        return None
    candidate = Path(repo[len("file://") :] if repo.startswith("file://") else repo)
    return candidate if candidate.exists() else None


# The files the settings may name: (option, what it holds; None when it may be empty).
_FILES = (
    ("git_token_file", "--git-token-file", "the git token"),
    ("github_token_file", "--github-token-file", "the GitHub token"),
    ("github_app_key_file", "--github-app-key-file", "the GitHub App's private key"),
    ("ssh_key", "--ssh-key", "the SSH private key"),
    ("ssh_passphrase_file", "--ssh-passphrase-file", None),
)


def check_files(settings: Settings) -> None:
    """Every file the settings name exists, can be read and (but a passphrase) is not
    empty; PolicyError naming the option otherwise. They are read again when used, so a
    rotated token is picked up, but one missing at start is a mistake, not a delay."""
    for field, option, holds in _FILES:
        path: Path | None = getattr(settings, field)
        if path is None:
            continue
        try:
            empty = not path.read_bytes().strip()
        except OSError as error:
            reason = os_reason(error)
            raise PolicyError(
                f"cannot read {option} {path}: {reason}; check that the file is mounted and "
                "readable by the daemon's user"
            ) from None
        if empty and holds is not None:
            raise PolicyError(f"{option} {path} is empty; write {holds} in it")


def check_repo(settings: Settings) -> None:
    """A config repo on this machine (a path or ``file://`` URL) is a folder that can be
    read; PolicyError otherwise. A folder that is not a repository yet is left to the
    first fetch, which is retried: something may be filling it (git-sync, a copy)."""
    remote = parse_remote(repo_url(settings))
    path = remote.local_path
    if path is None:
        return
    try:
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "does not exist"
            raise PolicyError(
                f"--repo {remote.display} {what}; give the config repo's folder on this "
                "machine, or its URL"
            )
        with os.scandir(path) as entries:
            next(entries, None)
    except OSError as error:
        reason = os_reason(error)
        raise PolicyError(
            f"cannot read --repo {remote.display}: {reason}; check its permissions for the "
            "daemon's user"
        ) from None


@dataclass(frozen=True)
class _Checked:
    """What `run` checked and holds before it starts: nothing fetched, nothing served."""

    held: CacheLock
    prepared: Prepared
    webhook_secret: bytes | None
    peers: tuple[str, ...]


def _start_up(args: argparse.Namespace, settings: Settings) -> _Checked:
    """Every check that needs no network; PolicyError (or another ReconcilerError)."""
    prepared = prepare(settings)  # settings mistakes
    check_files(settings)
    secret_file: Path | None = args.webhook_secret_file
    secret = load_secret(secret_file) if secret_file is not None else None
    peers = peer_urls(args.peers, settings.shard)
    if peers and secret is None:
        raise PolicyError(
            "--peers needs --webhook-secret-file: forwarded deliveries are signed with it"
        )
    check_repo(settings)
    return _Checked(lock_cache(settings.cache_dir), prepared, secret, peers)


def _forwarder(checked: _Checked, shard: str, closing: ExitStack) -> Forwarder | None:
    """What tells the peers of each accepted delivery, its client closed with ``closing``;
    None without ``--peers``."""
    if checked.webhook_secret is None or not checked.peers:
        return None
    forwards = checked.prepared.metrics.webhook_forwards
    for peer in checked.peers:  # every peer's failures series exists from the start
        forwards.labels(peer=peer_label(peer), result="failed")
    client = HttpClient(trust_env=False)  # peers are in-cluster: no proxy between them
    closing.callback(client.close)
    return Forwarder(
        checked.peers,
        checked.webhook_secret,
        shard,
        client=client,
        count=lambda peer, result: forwards.labels(peer=peer, result=result).inc(),
    )


def _cycle_status(wired: Wired, latest: overview.Latest) -> CycleStatus:
    """One cycle of the daemon, as the loop sees it; its view is kept for GET /status."""
    result = wired.runner.cycle()
    latest.publish(result.observation.policy, result.observation.snapshot, result.plan)
    now = utc_now()
    # Woken when a gate's next sample is due (now, for one a full round left out), and when
    # a block ends by itself (a soak, a merge delay, a window: its `until`), not at the next
    # poll: a 3 s soak waited for a 30 s poll. An `until` already past is left out, or a
    # block that outlives it would wake the daemon in a loop.
    ends = [b.until for b in result.plan.blocked if b.until is not None and b.until > now]
    observer = wired.runner.observer
    dues = [d for d in (observer.sampler.next_due, observer.checks.next_due) if d is not None]
    soonest = min([*ends, *dues], default=None)
    # The daemon's own writes are followed up at once, without a trigger from the watcher.
    wake = 0.0 if result.moved else (soonest - now).total_seconds() if soonest else None
    valid = result.observation.policy_valid
    snapshot = result.observation.snapshot
    return CycleStatus(
        ok=True,
        policy_valid=valid,
        summary=result.summary(),
        errors=sum(1 for o in result.outcomes if not o.ok),
        last_good_policy=not valid and result.observation.policy is not None,
        invalid_commit=None if valid else snapshot.base_commit,
        policy_problems=len(snapshot.policy_errors),
        wake_in=wake,
    )


def run(args: argparse.Namespace) -> int:
    """The daemon: cycles on the poll interval and on changes, /metrics on --listen."""
    configure_logging(args.log_format)
    settings = _settings(args, "run")
    if settings is None:
        return EXIT_USAGE
    try:
        checked = _start_up(args, settings)
    except ReconcilerError as exc:
        return fail("run", str(exc), EXIT_USAGE)
    prepared = checked.prepared
    wired: Wired | None = None
    latest = overview.Latest()

    def close_wired() -> None:
        if wired is not None:
            wired.close()

    # Closed as the loop ends, before its last line, the last added first: the server (no
    # more deliveries), the forwarder (no forward in flight), then the clients they used.
    parts = ExitStack()
    parts.callback(close_wired)

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
        return _cycle_status(wired, latest)

    def interval() -> Cadence:
        if wired is None:
            return Cadence(CONNECT_INTERVAL, None)  # not known until the policy is read
        policy = wired.runner.observer.last_good
        if policy is None:
            return Cadence(DEFAULT_INTERVAL, "the default while no valid policy is read")
        return Cadence(policy.settings.poll_interval, "the policy's poll_interval")

    daemon = Daemon(
        cycle,
        interval=interval,
        watch_path=local_path(args.repo),
        probing_budget=PROBE_BUDGET,
        on_rate_limit=prepared.metrics.forge_rate_limited,
        on_stop=parts.close,
    )
    forwarder = _forwarder(checked, str(settings.shard), parts)
    webhook = (
        WebhookConfig(
            secret=checked.webhook_secret,
            trigger=daemon.trigger,
            forward=forwarder.submit if forwarder is not None else lambda *_: None,
        )
        if checked.webhook_secret is not None
        else None
    )
    try:  # the last check: the port is held from here on
        server = StatusServer(
            args.listen,
            prepared.metrics,
            daemon.status,
            webhook=webhook,
            view=lambda: latest.encoded(utc_now),
        )
    except ReconcilerError as exc:
        parts.close()
        return fail("run", str(exc), EXIT_USAGE)
    server.start()
    if forwarder is not None:
        forwarder.start()
        parts.callback(forwarder.stop)
    parts.callback(server.stop)
    restore = install_signal_handlers(daemon)
    served = ", /webhook" if webhook else ""
    if forwarder is not None:
        served += f" (forwarded to {len(forwarder.peers)} peers)"
    log.info(
        "reconciler serving /metrics, /healthz, /readyz, /status%s on http://%s (cache %s held)",
        served,
        server.address,
        checked.held.path.parent,
    )
    try:
        return daemon.run()
    finally:
        parts.close()  # on_stop closed them, unless run() raised before its loop began
        restore()
