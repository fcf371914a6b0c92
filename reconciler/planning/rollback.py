"""`reconciler rollback`'s decision: which digest that ran in the target to go back to, and
the request (or direct commit) that does it, built as a promotion is (pure).

The request is the pair's one rolling request (`promote/<env>/<app>`) with a rollback
marker: code-owner review and the daemon's merge are a promotion's; the source's gates are
not evaluated. An open forward promotion is replaced by it in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler import promotions, units
from reconciler.actions import Blocked, CommitDirect, Propose
from reconciler.errors import PolicyError
from reconciler.gates import PinFact
from reconciler.model import short
from reconciler.planning import promotion, requests, reviews
from reconciler.planning.draft import Draft
from reconciler.policy.model import Policy
from reconciler.snapshot import Snapshot


@dataclass(frozen=True)
class Ask:
    """What a person asked: roll ``app`` in ``env`` back to ``to`` (None: the previous)."""

    app: str
    env: str
    to: str | None
    reason: str
    by: str
    tag: str = ""  # the tag written beside the digest gone back to, when it ran there


@dataclass(frozen=True)
class Decision:
    """The digest chosen, and the write that makes the rollback (None: blocked or done)."""

    digest: str
    replaces: str
    action: Propose | CommitDirect | None
    blocked: tuple[Blocked, ...]
    already: int | None = None  # the open request that makes this rollback already


def choose(history: Sequence[PinFact], current: str | None, to: str | None) -> str:
    """The digest to go back to: ``to`` (whole, or a prefix such as ``sha256:abcd1234``) if
    the target pinned it before, else the last one it pinned before ``current``'s run.

    ``history`` is the target overlay's, oldest first. PolicyError says why none fits.
    """
    ran = [f.digest for f in history if f.digest and f.digest != current]
    if to is not None:
        wanted = to.strip()
        if not wanted.startswith(("sha256:", "sha512:")):
            raise PolicyError(f"--to {to!r} is not a digest (sha256:...)")
        matches = sorted({d for d in ran if d.startswith(wanted)})
        if to.strip() == current or (current and current.startswith(wanted) and not matches):
            raise PolicyError(f"{short(current or '')} is what the environment pins now")
        if not matches:
            raise PolicyError(
                f"{to} never ran there in the history read (the last {len(history)} commits "
                "of the overlay); --previous picks the one before the current digest"
            )
        if len(matches) > 1:
            raise PolicyError(f"{to} is ambiguous: {', '.join(matches)}")
        return matches[0]
    if not ran:
        raise PolicyError(
            "the overlay's history holds no other digest to go back to; name one with --to"
        )
    return ran[-1]


def decide(policy: Policy, snapshot: Snapshot, ask: Ask, now: datetime) -> Decision:
    """The write for ``ask`` (its overlay's history whole in ``snapshot``); PolicyError
    when the policy does not promote into that environment or nothing fits."""
    target = policy.environments[ask.env]
    app = policy.apps[ask.app]
    if target.follows is None:
        raise PolicyError(
            f"nothing is promoted into {ask.env} (it follows no environment); pin it with "
            "`reconciler pin`"
        )
    if not policy.has_app_in(ask.app, ask.env):
        raise PolicyError(f"{ask.app} is not promoted into {ask.env} by the policy")
    source = policy.environments[target.follows]
    key = (ask.app, ask.env)
    tgt = snapshot.overlays.get(key)
    if tgt is None or tgt.error or tgt.pin is None or not tgt.pin.digest:
        said = tgt.error if tgt and tgt.error else "it pins no digest"
        raise PolicyError(f"the {ask.env} overlay of {ask.app} cannot be rolled back: {said}")
    current = tgt.pin.digest
    digest = choose(tgt.history, current, ask.to)
    assert units.is_identity(digest)
    keep_tag = promotions.keeps_tag(policy, app, target)
    tag = ask.tag if keep_tag is True else ""
    marker = promotions.Marker(
        ask.app,
        ask.env,
        source.name,
        digest,
        "",
        kind="rollback",
        replaces=current,
        reason=promotions.note(ask.reason),
        by=promotions.note(ask.by, 100, mention=True),
        tag=tag,
    )
    draft = Draft(policy, snapshot, now)
    held = snapshot.requests.get(key)
    open_marker = promotions.parse_marker(held.request.body) if held else None
    if (
        held is not None
        and open_marker is not None
        and open_marker.rollback
        and open_marker.digest == digest
    ):
        return Decision(digest, current, None, (), held.request.number)
    if requests.waits(draft, ask.app, ask.env, held):
        return Decision(digest, current, None, tuple(draft.blocked))
    owners = reviews.owners(draft, app, target, tgt)
    if owners is None:
        return Decision(digest, current, None, tuple(draft.blocked))
    pin = promotions.rollback_pin(tgt.pin, digest, keep_tag=keep_tag, tag=tag)
    promotion.advance(draft, app, source, target, tgt, marker, pin, [], owners, held)
    # Only the write that asks for the rollback: reviews and the merge are the daemon's.
    writes = [a for a in draft.actions if isinstance(a, (Propose, CommitDirect))]
    return Decision(digest, current, writes[0] if writes else None, tuple(draft.blocked))
