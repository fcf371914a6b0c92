"""Holds: what stops automation for one (app, target environment), and why.

Three holds come from the policy and the forge: ``hold = true`` on the app, ``hold = true``
on the environment, and the hold label (``settings.hold_label``) on the promotion PR. The
fourth protects a person's rollback: once someone has moved the target off a digest by
hand, the reconciler does not promote that digest there again; a new candidate (another
digest) is promoted as usual.
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
                else ManualRollback(candidate, fact.digest, fact.commit, fact.committed_at)
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
    return Hold(
        "manual-rollback",
        f"{short(candidate)} was replaced by hand in {env}: commit {rollback.commit[:12]} at "
        f"{stamp(rollback.committed_at)} pinned {instead} instead; it is not promoted there "
        "again until a new candidate appears",
        rollback.committed_at,
    )
