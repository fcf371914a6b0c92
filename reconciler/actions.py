"""What a plan is made of: the actions a cycle takes and the promotions it cannot make."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from reconciler import promotions
from reconciler.gates import GateResult
from reconciler.gates.results import GateCode
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App
from reconciler.reasons import BlockedCode


def gate_blocked(code: GateCode) -> BlockedCode:
    """``gate:<code>``: the blocked code of a gate of the policy that does not pass."""
    # Such a gate's code is a GateFailure; typing cannot spell the prefixed literal, so
    # tests/docs/test_blocked_reasons.py checks BlockedCode has `gate:` and each of them.
    return cast(BlockedCode, f"gate:{code}")


@dataclass(frozen=True, kw_only=True)
class Blocked:
    """A promotion that does not happen now: ``code`` for metrics, ``reason`` for people."""

    app: str
    env: str
    code: BlockedCode
    reason: str
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class PinEdit:
    """The one edit a promotion makes: pin ``app`` to ``pin`` in the overlay ``path``."""

    app: App
    format: str
    path: str
    pin: ImagePin


@dataclass(frozen=True, kw_only=True)
class Propose:
    """Open the promotion request, or update the open one (``number``) to this candidate."""

    app: App
    env: str
    source: str
    format: str
    path: str
    pin: ImagePin
    marker: promotions.Marker
    title: str
    body: str
    message: str
    trailers: tuple[tuple[str, str], ...]
    labels: tuple[str, ...]
    reviewers: tuple[str, ...]
    number: int | None = None  # an open request to update
    expected_head: str | None = None
    comment: str | None = None
    files: tuple[str, ...] = ()  # a unit's part files (reconciler.partfiles); (): ``path``


@dataclass(frozen=True, kw_only=True)
class CommitDirect:
    """`mode = "commit"`: push the promotion commit straight to the base branch."""

    app: App
    env: str
    source: str
    format: str
    path: str
    pin: ImagePin
    marker: promotions.Marker
    message: str
    trailers: tuple[tuple[str, str], ...]
    files: tuple[str, ...] = ()  # a unit's part files (reconciler.partfiles); (): ``path``


@dataclass(frozen=True, kw_only=True)
class Merge:
    """Merge request ``number`` if its head is still ``expected_head``."""

    app: str
    env: str
    number: int
    expected_head: str
    message: str
    approvers: tuple[str, ...] = ()
    # Checked again at the forge right before merging, not only when the cycle began:
    # a code owner's review must still be enforced, and the hold label still absent.
    owners_required: bool = False
    hold_label: str = ""
    # The edit the head must be exactly (reconciler.provenance), proven again before merging.
    edit: PinEdit | None = None
    rollback: bool = False  # a `reconciler rollback` request (counted apart in the metrics)


@dataclass(frozen=True)
class Close:
    """Close request ``number`` without merging."""

    app: str
    env: str
    number: int
    comment: str


@dataclass(frozen=True)
class RecordLive:
    """Record in request ``number`` when its digest was first seen running (the audit)."""

    app: str
    env: str
    number: int
    at: datetime
    # No live source in the environment: ``at`` is the merge, the best durable fact, not a
    # sighting; output says so.
    inferred: bool = False


@dataclass(frozen=True)
class RequestReviews:
    """Ask the code owners to review request ``number`` (they were not asked yet)."""

    app: str
    env: str
    number: int
    reviewers: tuple[str, ...]


@dataclass(frozen=True)
class AddLabels:
    """Put the policy's ``labels`` that request ``number`` lacks on it (added, none removed)."""

    app: str
    env: str
    number: int
    labels: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class RecordRollback:
    """Record in the forge's audit that ``digest`` was rolled back by hand in ``env``."""

    app: str
    env: str
    digest: str
    commit: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class MoveTag:
    """Point the environment's registry tag at the digest it runs (re-put, no rebuild)."""

    app: str
    env: str
    repository: str
    digest: str
    tag: str


Action = (
    Propose
    | CommitDirect
    | Merge
    | Close
    | RecordLive
    | MoveTag
    | RequestReviews
    | AddLabels
    | RecordRollback
)


def action_key(action: Action) -> tuple[str, str]:
    """The (app, env) an action is about."""
    app = action.app if isinstance(action.app, str) else action.app.name
    return app, action.env


@dataclass(frozen=True)
class Plan:
    """The actions of one cycle, the blocked promotions, and every gate verdict."""

    actions: tuple[Action, ...] = ()
    blocked: tuple[Blocked, ...] = ()
    gates: tuple[tuple[str, str, GateResult], ...] = ()  # (app, target env, result)
    notes: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        """True when the cycle has nothing to do."""
        return not self.actions
