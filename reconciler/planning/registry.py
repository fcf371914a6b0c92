"""What the registry's facts decide: a tag-only pin's digest, whether a digest is proven to
exist, and which environments' registry tags move."""

from __future__ import annotations

import shlex

from reconciler import units
from reconciler.actions import MoveTag
from reconciler.model import short as short_digest
from reconciler.overlays.imageref import ImagePin
from reconciler.planning.draft import Draft
from reconciler.policy.model import App, Environment


def pin_command(app: App, env: str, tag: str = "") -> str:
    """The command that pins ``app``'s digest in ``env``'s overlay, whatever its kind, as
    hints print it: ``reconciler pin --app APP --env ENV IMAGE[:TAG]@sha256:...``, with the
    app's own image (the one repository the command accepts) and the digest to fill in."""
    image = app.image + (f":{tag}" if tag else "")
    where = f"--app {shlex.quote(app.name)} --env {shlex.quote(env)}"
    return f"reconciler pin {where} {image}@sha256:..."


def resolved(
    draft: Draft, app: App, source: Environment, target: Environment, pin: ImagePin
) -> str:
    """The digest a tag-only source pin points to in the registry; "" when blocked."""
    if draft.policy.registry is None or not pin.tag:
        draft.block(
            app.name,
            target.name,
            "tag-only",
            f"the {source.name} overlay pins {app.name} by tag ({pin.tag or 'none'}) "
            "only; promotions move digests: pin the digest in "
            f"{source.name} ({pin_command(app, source.name, pin.tag)}), or "
            "configure [registry] to resolve tags",
        )
        return ""
    repository = app.image
    fact = draft.snap.tags.get((repository, pin.tag))
    if fact is None or fact.error:
        why = fact.error if fact else "it was not asked this cycle"
        draft.block(
            app.name,
            target.name,
            "registry-unreachable",
            f"cannot resolve {repository}:{pin.tag} to a digest: {why}",
        )
        return ""
    if fact.digest is None:
        draft.block(
            app.name,
            target.name,
            "unknown-tag",
            f"the registry has no tag {pin.tag} in {repository}; push it, or pin a digest",
        )
        return ""
    return fact.digest


def proven(draft: Draft, app: App, target: Environment, pin: ImagePin) -> bool:
    """Fail closed: with a registry configured, the digest must be shown to exist (every
    part's, for an image unit)."""
    if draft.policy.registry is None:
        return True
    if app.is_unit:
        wanted = dict(pin.parts)
        return all(
            _proven(draft, app.name, target, part.image, wanted[name].digest)
            for name, part in app.parts()
        )
    return _proven(draft, app.name, target, app.image, pin.digest)


def _proven(draft: Draft, app: str, target: Environment, repository: str, digest: str) -> bool:
    fact = draft.snap.digests.get((repository, digest))
    if fact is not None and fact.exists:
        return True
    if fact is not None and fact.exists is False:
        draft.block(
            app,
            target.name,
            "unknown-digest",
            f"the registry does not know {short_digest(digest)} in {repository}; "
            "push the image, or pin a digest that exists",
        )
    else:
        why = fact.error if fact and fact.error else "it was not asked this cycle"
        draft.block(
            app,
            target.name,
            "registry-unreachable",
            f"cannot prove {short_digest(digest)} exists in {repository}: {why}",
        )
    return False


def move_tag(draft: Draft, env: Environment, app: App) -> None:
    """``env``'s `registry_tag` for ``app`` follows the digest the environment runs (each
    part's tag its digest, for an image unit that runs whole)."""
    key = (app.name, env.name)
    if env.name in draft.policy.live:
        live = draft.snap.live.get(key)
        running = live.digest if live and not live.rolling else None
    else:
        overlay = draft.snap.overlays.get(key)
        running = overlay.pin.digest if overlay and overlay.pin else None
    assert env.registry_tag is not None
    if not running:
        return
    each = units.parts(running) if app.is_unit else {"": running}
    for name, part in app.parts():
        digest = (each or {}).get(name)
        fact = draft.snap.tags.get((part.image, env.registry_tag))
        if not digest or fact is None or fact.error or fact.digest == digest:
            continue
        draft.actions.append(
            MoveTag(
                app=app.name,
                env=env.name,
                repository=part.image,
                digest=digest,
                tag=env.registry_tag,
            )
        )
