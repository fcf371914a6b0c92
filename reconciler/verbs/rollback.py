"""`reconciler rollback`: go back to a digest that ran in an environment, as a request (or a
direct commit where the environment allows) that says it is a rollback and why.

One observe, the pure decision (`planning.rollback`), and the one write applied through the
daemon's own applier: the request is the pair's rolling request with a rollback marker, so
the daemon reviews and merges it as any promotion, and does not replace it while it is open.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace

from reconciler.actions import CommitDirect, Plan, Propose
from reconciler.applying import ActionOutcome
from reconciler.clock import utc_now
from reconciler.errors import PolicyError, ReconcilerError, one_shot
from reconciler.model import short
from reconciler.planning import rollback as planned
from reconciler.policy import POLICY_FILE, Policy
from reconciler.registryfacts import images_of, prove
from reconciler.settings import from_args, has_repo
from reconciler.snapshot import OverlayState
from reconciler.verbs import EXIT_INVALID, EXIT_OK, EXIT_USAGE, check_name, fail
from reconciler.verbs.reconcile import _hold
from reconciler.wiring import Wired, build

VERB = "rollback"


def rollback(args: argparse.Namespace) -> int:
    """Open (or commit) the rollback of ``--app`` in ``--env``; say what was done."""
    if not has_repo(args):
        return fail(VERB, "--repo is required (or RECONCILER_REPO)", EXIT_USAGE)
    settings = from_args(args)
    held = _hold(settings, VERB)  # it writes what a daemon on this cache would
    if held is None:
        return EXIT_USAGE
    try:
        wired = build(settings)
        try:
            return _roll_back(args, wired)
        finally:
            wired.close()
    except ReconcilerError as exc:
        return fail(VERB, one_shot(str(exc)))
    finally:
        held.release()


def roll_back(
    wired: Wired, ask: planned.Ask, *, dry_run: bool = False
) -> tuple[planned.Decision, list[ActionOutcome]]:
    """Observe, decide ``ask`` and apply its one write through ``wired``'s applier (not
    with ``dry_run``); PolicyError: a name the policy does not know, or nothing to go
    back to."""
    observer = wired.runner.observer
    # No gate samples: a rollback's gates are not evaluated.
    observation = observer.observe(one_shot=True, probe=False)
    policy = observation.policy
    if policy is None or not observation.policy_valid:
        raise PolicyError(f"{POLICY_FILE} on the base branch does not load; see `validate`")
    check_name("app", ask.app, policy.apps, POLICY_FILE)
    check_name("environment", ask.env, policy.environments, POLICY_FILE)
    snapshot = observation.snapshot
    key = (ask.app, ask.env)
    state = snapshot.overlays.get(key)
    if state is not None and not state.error:
        # The whole window of the target's pin history: what ran there before.
        whole = observer.windows.whole(policy, key, state)
        snapshot = replace(snapshot, overlays={**snapshot.overlays, key: whole})
        ask = replace(ask, tag=_tag_when_it_ran(wired, policy, ask, whole))
        registry = observer.registry_for(policy) if policy.registry is not None else None
        if registry is not None and whole.pin is not None:
            # No candidate names the digest gone back to: prove it exists (fail closed).
            digest = planned.choose(whole.history, whole.pin.digest or None, ask.to)
            wanted = images_of(policy.apps[ask.app], digest)
            found = prove(registry, {image: [each] for image, each in wanted.items()})
            snapshot = replace(snapshot, digests={**snapshot.digests, **found})
    decision = planned.decide(policy, snapshot, ask, utc_now())
    if decision.action is None or dry_run:
        return decision, []
    plan = Plan(actions=(decision.action,))
    return decision, wired.runner.applier.apply(plan, snapshot.base_branch)


def _tag_when_it_ran(wired: Wired, policy: Policy, ask: planned.Ask, state: OverlayState) -> str:
    """The tag the overlay wrote beside the digest gone back to, the last time it pinned
    it ("" when none, or when that cannot be read: the current tag is kept then)."""
    if state.pin is None:
        return ""
    try:
        digest = planned.choose(state.history, state.pin.digest or None, ask.to)
    except PolicyError:
        return ""  # decide() says why
    ran = [fact.commit for fact in state.history if fact.digest == digest]
    if not ran:
        return ""
    observer = wired.runner.observer
    env, app = policy.environments[ask.env], policy.apps[ask.app]
    try:
        view = observer.repo.tree(ran[-1])
        pins = observer.desired.pins
        if state.part_files:
            then = pins.unit_pin(env.format, app, view, state.part_files)
        else:
            then = pins.pin(env.format, app, view, state.path)
    except ReconcilerError:
        return ""
    return then.tag if then is not None and then.digest == digest else ""


def _roll_back(args: argparse.Namespace, wired: Wired) -> int:
    ask = planned.Ask(
        args.app, args.env, None if args.previous else args.to, args.reason, args.by or ""
    )
    decision, outcomes = roll_back(wired, ask, dry_run=args.dry_run)
    failed = [o for o in outcomes if not o.ok]
    if args.output != "text":
        print(json.dumps(_json(decision, outcomes), indent=2))
    else:
        print(
            f"{args.app} in {args.env}: roll back {short(decision.replaces)} -> "
            f"{short(decision.digest)}"
        )
        for outcome in outcomes:
            print(f"{'' if outcome.ok else 'failed: '}{outcome.detail}")
        if args.dry_run and decision.action is not None:
            print(f"would {_would(decision.action)} (dry run: nothing written)")
        if decision.already is not None:
            print(f"nothing to write: request #{decision.already} is that rollback, open already")
        for blocked in decision.blocked:
            print(f"blocked ({blocked.code}): {blocked.reason}")
    if failed or (decision.action is None and decision.blocked):
        return EXIT_INVALID
    return EXIT_OK


def _would(action: Propose | CommitDirect) -> str:
    if isinstance(action, CommitDirect):
        return f"commit {action.path} to the base branch: {action.message.splitlines()[0]}"
    verb = f"update #{action.number}" if action.number is not None else "open a request"
    return f"{verb}: {action.title}"


def _json(decision: planned.Decision, done: Sequence[ActionOutcome]) -> dict[str, object]:
    return {
        "digest": decision.digest,
        "replaces": decision.replaces,
        "already": decision.already,
        "would": _would(decision.action) if decision.action else None,
        "written": [{"result": o.result, "ok": o.ok, "detail": o.detail} for o in done],
        "blocked": [{"code": b.code, "reason": b.reason} for b in decision.blocked],
    }
