"""Apply: carry out a Plan through the ports, each step idempotent.

Every write is keyed by something deterministic (the head branch `promote/<env>/<app>`,
the request marker, the pin itself), so running the same plan twice, or again after a
crash at any step, finishes the work without doing any of it twice. One action failing
does not stop the others; each outcome is reported.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from reconciler import promotions, provenance
from reconciler.actions import (
    Action,
    AddLabels,
    CommitDirect,
    Merge,
    MoveTag,
    PinEdit,
    Plan,
    Propose,
    RecordLive,
    RecordRollback,
    RequestReviews,
)
from reconciler.errors import ReconcilerError
from reconciler.forge.port import Forge, MergeRefused
from reconciler.gitrepo.port import ConfigRepo, ReadView, Signature
from reconciler.gitrepo.trailers import Trailer
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App
from reconciler.registry.port import ImageRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActionOutcome:
    """What one action did: ``result`` is a short word for metrics, ``detail`` for logs."""

    action: Action
    ok: bool
    result: str
    detail: str
    number: int | None = None  # the request an action opened (a new one has no number)


@dataclass(frozen=True)
class Identity:
    """Who the daemon commits as."""

    name: str = "reconciler"
    email: str = "reconciler@localhost"


class Applier:
    """Executes plans against a config repo and a forge."""

    def __init__(
        self,
        repo: ConfigRepo,
        forge: Forge,
        clock: Callable[[], datetime],
        identity: Identity | None = None,
        registry: Callable[[], ImageRegistry | None] = lambda: None,
        *,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        """``stopping()`` true: take no further action this cycle (the daemon was asked to
        stop; what is left is planned again at the next start)."""
        self.stopping = stopping
        self.repo = repo
        self.forge = forge
        self.clock = clock
        self.identity = identity or Identity()
        self.registry = registry
        self._chain = provenance.BaseChain(repo)  # kept: merges walk only new base commits

    def apply(self, plan: Plan, base_branch: str) -> list[ActionOutcome]:
        """Run every action of ``plan``; errors become failed outcomes, never exceptions."""
        outcomes = []
        for done, action in enumerate(plan.actions):
            if self.stopping():
                # A first cycle at 10,000 apps may hold thousands of actions: a stop must not
                # wait for them all (Kubernetes kills after its grace period). Each action is
                # whole or not begun, so the rest are simply planned again.
                log.info(
                    "stopping: %d of %d actions left for the next start",
                    len(plan.actions) - done,
                    len(plan.actions),
                    extra={"event": "apply-stopped", "left": len(plan.actions) - done},
                )
                break
            try:
                outcomes.append(self._one(action, base_branch))
            except ReconcilerError as exc:
                outcomes.append(ActionOutcome(action, ok=False, result="error", detail=str(exc)))
            except Exception as exc:  # one bad action must not stop the others
                # Only the type and place: a library's message may quote a URL with a token.
                outcomes.append(
                    ActionOutcome(
                        action, ok=False, result="error", detail=f"internal error: {_where(exc)}"
                    )
                )
        return outcomes

    def _merge(self, action: Merge, base: str) -> ActionOutcome:
        """Merge, after proving again what the plan relied on: the plan was made from what
        the cycle read when it began, and protection or labels may have changed since."""
        if action.owners_required:
            enforcement = self.forge.codeowner_enforcement(base)
            if not enforcement.enforced:
                raise MergeRefused(
                    f"not merging #{action.number}: {enforcement.reason} (changed since this "
                    "cycle began)"
                )
        if action.hold_label and action.hold_label in self.forge.request(action.number).labels:
            raise MergeRefused(
                f'not merging #{action.number}: the "{action.hold_label}" label was added '
                "since this cycle began; remove it to resume"
            )
        problem = self._unbuilt(action, base)
        if problem:
            raise MergeRefused(f"not merging #{action.number}: {problem}")
        commit = self.forge.merge(action.number, action.expected_head, action.message)
        return ActionOutcome(
            action, ok=True, result="merged", detail=f"merged #{action.number} as {commit[:12]}"
        )

    def _unbuilt(self, action: Merge, base: str) -> str | None:
        """Why the head about to be merged is not the daemon's own edit; None when it is.

        The forge merges exactly ``expected_head`` (GitHub: the ``sha`` of the merge call;
        the local forge: the head it reads must be that commit), so proving that commit is
        proving what lands.
        """
        if action.edit is None:
            return "the plan names no edit to prove the head against"
        tip = self.repo.tip(base)
        if tip is None:
            return f"the base branch {base} is gone"
        self._chain.move_to(tip)
        edit = action.edit
        edits = provenance.unit_edits(edit, self.repo.tree(tip).names)
        checked = provenance.check_head(
            self.repo,
            self._chain,
            action.expected_head,
            base_tip=tip,
            digest=edit.pin.digest,
            edits=edits,
        )
        if checked.problem is None and not checked.current:
            return (
                f"the base branch changed {' or '.join(edits)} since its head was built, so "
                "merging it would not give exactly the promotion's edit; it will be rebuilt"
            )
        return checked.problem

    def _signature(self) -> Signature:
        now = self.clock().replace(microsecond=0)
        return Signature(self.identity.name, self.identity.email, now)

    def _one(self, action: Action, base: str) -> ActionOutcome:
        if isinstance(action, Propose):
            return self._propose(action, base)
        if isinstance(action, CommitDirect):
            return self._commit(action, base)
        if isinstance(action, Merge):
            return self._merge(action, base)
        if isinstance(action, RecordRollback):
            wrote = self.forge.record_rollback(action.env, action.app, action.digest, action.commit)
            word = "recorded" if wrote else "already recorded"
            return ActionOutcome(
                action,
                ok=True,
                result="rollback",
                detail=f"rollback of {action.digest[:15]} {word}",
            )
        if isinstance(action, RequestReviews):
            self.forge.request_reviews(action.number, action.reviewers)
            who = " ".join(action.reviewers)
            return ActionOutcome(
                action,
                ok=True,
                result="reviews-requested",
                detail=f"asked {who} to review #{action.number}",
            )
        if isinstance(action, AddLabels):
            self.forge.add_labels(action.number, action.labels)
            what = " ".join(action.labels)
            return ActionOutcome(
                action, ok=True, result="labelled", detail=f"labelled #{action.number} {what}"
            )
        if isinstance(action, MoveTag):
            registry = self.registry()
            if registry is None:
                return ActionOutcome(
                    action, ok=False, result="error", detail="no registry is configured"
                )
            moved = registry.tag(action.repository, action.digest, action.tag)
            word = "moved" if moved else "already"
            return ActionOutcome(
                action,
                ok=True,
                result="tagged",
                detail=f"{action.repository}:{action.tag} {word} at {action.digest[:15]}",
            )
        if isinstance(action, RecordLive):
            self.forge.record_live(action.number, action.at, inferred=action.inferred)
            when = f"{action.at:%Y-%m-%dT%H:%M:%SZ}"
            detail = (
                f"#{action.number} live since {when} (inferred from the merge: {action.env} "
                "has no live source)"
                if action.inferred
                else f"#{action.number} seen live since {when}"
            )
            return ActionOutcome(action, ok=True, result="live", detail=detail)
        self.forge.close(action.number, action.comment)
        return ActionOutcome(action, ok=True, result="closed", detail=f"closed #{action.number}")

    def _propose(self, action: Propose, base: str) -> ActionOutcome:
        head = promotions.branch(action.env, action.app.name)
        base_tip = self.repo.tip(base)
        if base_tip is None:
            return ActionOutcome(
                action, ok=False, result="error", detail=f"base branch {base} is gone"
            )
        # A request whose head branch vanished has no head: then the branch must not exist.
        expected = (
            (action.expected_head or None) if action.number is not None else self.repo.tip(head)
        )
        signature = self._signature()
        pushed = self.repo.replace_branch(
            head,
            _pin_edit(action.format, action.path, action.app, action.pin),
            base=base_tip,
            expected_old=expected,
            message=action.message,
            author=signature,
            committer=signature,
            trailers=_trailers(action.trailers),
        )
        if action.number is None:
            request = self.forge.open(head, base, action.title, action.body, action.labels)
            # The reviewers of a new request are its code owners; a forge that asks them
            # itself is left to, and the next cycle asks any it has not (RequestReviews).
            if action.reviewers and not self.forge.asks_code_owners:
                self.forge.request_reviews(request.number, action.reviewers)
            return ActionOutcome(
                action,
                ok=True,
                result="opened",
                detail=f"opened #{request.number} {action.title}",
                number=request.number,
            )
        self.forge.update(action.number, action.title, action.body, action.comment)
        if action.reviewers:
            self.forge.request_reviews(action.number, action.reviewers)
        moved = "pushed" if pushed.changed else "unchanged"
        return ActionOutcome(
            action, ok=True, result="updated", detail=f"updated #{action.number} ({moved} head)"
        )

    def _commit(self, action: CommitDirect, base: str) -> ActionOutcome:
        signature = self._signature()
        pushed = self.repo.update_branch(
            base,
            _pin_edit(action.format, action.path, action.app, action.pin),
            message=action.message,
            author=signature,
            committer=signature,
            trailers=_trailers(action.trailers),
        )
        if not pushed.changed:
            return ActionOutcome(
                action, ok=True, result="unchanged", detail=f"{action.path} already pins the digest"
            )
        commit = (pushed.commit or "")[:12]
        return ActionOutcome(
            action, ok=True, result="committed", detail=f"committed {commit} to {base}"
        )


def _pin_edit(
    fmt: str, path: str, app: App, pin: ImagePin
) -> Callable[[ReadView], dict[str, bytes | None] | None]:
    """The pin edit (of one file, or of a unit's part files, in one commit), computed on
    whatever tip the port hands it (re-run after a race)."""
    wanted = PinEdit(app=app, format=fmt, path=path, pin=pin)

    def edit(view: ReadView) -> dict[str, bytes | None] | None:
        out: dict[str, bytes | None] = {}
        for file, write in provenance.unit_edits(wanted, view.names).items():
            data = view.read(file)
            if data is None:
                raise ReconcilerError(f"{file} is missing on the branch; cannot pin {app.name}")
            edited = write(data)
            if edited != data:
                out[file] = edited
        return out or None

    return edit


def _where(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}{place}"


def _trailers(pairs: tuple[tuple[str, str], ...]) -> tuple[Trailer, ...]:
    return tuple(Trailer(key, value) for key, value in pairs)
