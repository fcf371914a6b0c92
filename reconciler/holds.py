"""Holds: what stops automation for one (app, target environment), and why.

Three holds come from the policy and the forge: ``hold = true`` on the app, ``hold = true``
on the environment, and the hold label (``settings.hold_label``) on the promotion PR. The
fourth protects a person's rollback: once someone has moved the target off a digest by
hand, the reconciler does not promote that digest there again; a new candidate (another
digest) is promoted as usual. A rollback made with `reconciler rollback` is such a
person's rollback (its commit says so, with the reason).

What ends that hold is the policy's ``settings.rollback_release``: "newer-digest" (the
default: another digest from the source is promoted as usual) or "manual" (the next
request opens with the hold label, ``release_label``, for a person to remove).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from reconciler.gates.pins import PinFact
from reconciler.gates.results import stamp
from reconciler.model import short
from reconciler.policy.model import Policy

HoldKind = Literal["app", "environment", "label", "manual-rollback"]


@dataclass(frozen=True)
class Hold:
    """One reason automation is stopped for an (app, env); ``since`` when known."""

    kind: HoldKind
    reason: str
    since: datetime | None = None


@dataclass(frozen=True)
class ManualRollback:
    """A person's commit that moved the target overlay off ``digest``."""

    digest: str
    replaced_by: str | None  # the digest the person pinned instead (None: no digest)
    commit: str
    committed_at: datetime
    reason: str | None = None  # a `reconciler rollback` commit's reason; None: by hand


def holds(
    policy: Policy,
    app: str,
    env: str,
    pr_labels: Collection[str] = (),
    labeled_at: datetime | None = None,
) -> tuple[Hold, ...]:
    """The policy and label holds on promoting ``app`` into ``env``; empty when none.

    ``pr_labels`` are the labels of the open promotion PR, if any; ``labeled_at`` when the
    hold label was put on it, if the forge says.
    """
    found: list[Hold] = []
    app_policy = policy.apps.get(app)
    if app_policy is not None and app_policy.hold:
        found.append(Hold("app", f"hold = true on app {app} in promotions.toml"))
    env_policy = policy.environments.get(env)
    if env_policy is not None and env_policy.hold:
        found.append(Hold("environment", f"hold = true on environment {env} in promotions.toml"))
    label = policy.settings.hold_label
    if label in pr_labels:
        found.append(
            Hold(
                "label",
                f'the promotion PR has the "{label}" label; remove it to resume',
                labeled_at,
            )
        )
    return tuple(found)


def manual_rollback(history: Sequence[PinFact], candidate: str) -> ManualRollback | None:
    """The person's commit that last moved the target off ``candidate``, if it was a person.

    ``history`` is the target overlay's pin history, oldest first (first-parent order).
    Only the last time the target left ``candidate`` matters: if the reconciler moved it
    on (it promoted something newer), nothing is held; if the target pins ``candidate``
    now, there is nothing to promote and nothing is held either.
    """
    previous: str | None = None
    left: ManualRollback | None = None
    for fact in history:
        if previous == candidate and fact.digest != candidate:
            left = (
                None
                if fact.by_reconciler
                else ManualRollback(
                    candidate, fact.digest, fact.commit, fact.committed_at, fact.rollback
                )
            )
        previous = fact.digest
    if previous == candidate:
        return None
    return left


def rollback_hold(history: Sequence[PinFact], candidate: str, env: str) -> Hold | None:
    """``manual_rollback`` as a hold on promoting ``candidate`` into ``env``."""
    rollback = manual_rollback(history, candidate)
    if rollback is None:
        return None
    instead = short(rollback.replaced_by) if rollback.replaced_by else "no digest"
    how = "by hand" if rollback.reason is None else f"by a rollback ({rollback.reason})"
    return Hold(
        "manual-rollback",
        f"{short(candidate)} was replaced {how} in {env}: commit {rollback.commit[:12]} at "
        f"{stamp(rollback.committed_at)} pinned {instead} instead; it is not promoted there "
        "again until a new candidate appears",
        rollback.committed_at,
    )


def release_label(policy: Policy, history: Sequence[PinFact]) -> bool:
    """Whether a request opened now into the overlay of ``history`` carries the hold label:
    with ``rollback_release = "manual"``, while the overlay still pins what a rollback
    (`reconciler rollback`, or by hand: a digest it pinned before) put there."""
    if policy.settings.rollback_release != "manual" or not history:
        return False
    newest = history[-1]
    if newest.rollback is not None:
        return True
    if newest.by_reconciler or newest.digest is None:
        return False
    return any(fact.digest == newest.digest for fact in history[:-1])
