"""How a promotion is named and written down: branch, title, body marker, commit trailers.

Everything here is deterministic in its inputs, which is what makes every write idempotent:
a restarted daemon, or a second one, computes the same branch name and finds the request
by its marker instead of opening another.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from reconciler import units
from reconciler.errors import PolicyError
from reconciler.gitrepo.trailers import Trailer
from reconciler.imagerefs import check_tag
from reconciler.model import short
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App, Environment, Policy

BRANCH_PREFIX = "promote/"
_MARKER = re.compile(r"<!-- reconciler:promotion (\{.*?\}) -->")

# Commit trailers (docs/architecture.md, the audit), read back by `reconciler history`.
PROMOTED_FROM = "Promoted-From"
IMAGE_DIGEST = "Image-Digest"
SOURCE_COMMIT = "Source-Commit"
GATE_EVIDENCE = "Gate-Evidence"
PROMOTION_APP = "Promotion-App"
PROMOTION_ENV = "Promotion-Env"
# A rollback's commit (`reconciler rollback`) carries no Promoted-From: it is a person's
# decision, so the manual-rollback memory (reconciler.holds) keeps the digest it moved off.
ROLLBACK_OF = "Rollback-Of"
ROLLBACK_REASON = "Rollback-Reason"
ROLLED_BACK_BY = "Rolled-Back-By"

Kind = Literal["promotion", "rollback"]


def target_pin(source: ImagePin, digest: str, *, keep_tag: bool | frozenset[str]) -> ImagePin:
    """What a promotion pins in the target: the source's repository and ``digest`` (and its
    tag, with `pin = "tag-and-digest"`). For an image unit, ``digest`` is the unit's key and
    every part is pinned to its digest in it (``keep_tag``: the parts that keep their tag);
    a part the source does not pin keeps no repository of its own."""
    wanted = units.parts(digest) if source.parts else None
    if wanted is None:
        return ImagePin(source.repository, source.tag if keep_tag is True else "", digest)
    have = dict(source.parts)
    pinned = []
    for name, part_digest in wanted.items():
        part = have.get(name, ImagePin(""))
        keep = name in keep_tag if isinstance(keep_tag, frozenset) else keep_tag
        pinned.append((name, ImagePin(part.repository, part.tag if keep else "", part_digest)))
    return ImagePin("", "", digest, tuple(pinned))


def request_pin(
    marker: Marker,
    source: ImagePin | None,
    target: ImagePin | None,
    *,
    keep_tag: bool | frozenset[str],
) -> ImagePin | None:
    """What the request of ``marker`` pins: a promotion, the source's repository
    (``target_pin``); a rollback, the target's own (``rollback_pin``); None when the overlay
    it comes from pins nothing."""
    if marker.rollback:
        if target is None:
            return None
        return rollback_pin(target, marker.digest, keep_tag=keep_tag, tag=marker.tag)
    return target_pin(source, marker.digest, keep_tag=keep_tag) if source else None


def keeps_tag(policy: Policy, app: App, target: Environment) -> bool | frozenset[str]:
    """Whether a promotion into ``target`` keeps the source's tag beside the digest: with
    `pin = "tag-and-digest"`, and always for a Helm chart that renders repository:tag (the
    "tag" layout), where the digest can only ride in the tag. For an image unit: the parts
    that keep it."""
    if policy.settings.pin == "tag-and-digest":
        return True
    if app.is_unit:
        return frozenset(
            name
            for name, part in app.parts()
            if target.format == "helm" and part.helm.kind == "tag"
        )
    return target.format == "helm" and app.helm.kind == "tag"


def branch(env: str, app: str) -> str:
    """The one head branch of promotions of ``app`` into ``env``."""
    return f"{BRANCH_PREFIX}{env}/{app}"


def parse_branch(name: str) -> tuple[str, str] | None:
    """``promote/prod/gw`` -> ("prod", "gw"); None for other branches."""
    if not name.startswith(BRANCH_PREFIX):
        return None
    parts = name[len(BRANCH_PREFIX) :].split("/")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


@dataclass(frozen=True)
class Marker:
    """The machine-readable part of a request body."""

    app: str
    env: str
    source: str
    digest: str
    source_commit: str
    kind: Kind = "promotion"
    # A rollback's: the digest it moves off, why, and who asked (said in the request).
    replaces: str = ""
    reason: str = ""
    by: str = ""
    # The tag the overlay wrote beside the digest when it ran (a layout that keeps a tag:
    # Helm's "tag", `pin = "tag-and-digest"`), so the rollback says the version that ran.
    tag: str = ""

    @property
    def rollback(self) -> bool:
        """Whether this request rolls the target back to a digest that ran there."""
        return self.kind == "rollback"

    def render(self) -> str:
        """A hidden HTML comment that survives edits of the visible body."""
        data: dict[str, object] = {
            "v": 1,
            "app": self.app,
            "env": self.env,
            "source": self.source,
            "digest": self.digest,
            "source_commit": self.source_commit,
        }
        if self.rollback:
            data |= {"kind": self.kind, "replaces": self.replaces, "reason": self.reason}
            data["by"] = self.by
            if self.tag:
                data["tag"] = self.tag
        return f"<!-- reconciler:promotion {json.dumps(data, sort_keys=True)} -->"


def parse_marker(body: str) -> Marker | None:
    """The marker in a request body, or None when it has none or a damaged one."""
    # The last marker: the daemon writes its own at the end, after any text that quotes
    # others (a commit title, a label), which is defanged too (reconciler.changes).
    found = None
    for found in _MARKER.finditer(body or ""):  # noqa: B007 - the last one is kept
        pass
    if found is None:
        return None
    try:
        data = json.loads(found[1])
        marker = Marker(
            str(data["app"]),
            str(data["env"]),
            str(data["source"]),
            str(data["digest"]),
            str(data.get("source_commit", "")),
            "rollback" if data.get("kind") == "rollback" else "promotion",
            str(data.get("replaces", "")),
            str(data.get("reason", "")),
            str(data.get("by", "")),
            str(data.get("tag", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if marker.tag and not _is_tag(marker.tag):
        return None  # not a tag the image grammar allows: a damaged marker
    # Anyone who can edit the body can edit the marker: a digest not of the image spec's
    # form is a damaged marker, never a digest to compare or to pin.
    if marker.replaces and not units.is_identity(marker.replaces):
        return None
    return marker if units.is_identity(marker.digest) else None


def _is_tag(text: str) -> bool:
    try:
        check_tag(text)
    except PolicyError:
        return False
    return True


def title(marker: Marker) -> str:
    """``prod: promote order-gateway sha256:abcd1234 from staging``, or for a rollback
    ``prod: roll back order-gateway to sha256:abcd1234``."""
    if marker.rollback:
        return f"{marker.env}: roll back {marker.app} to {short(marker.digest)}"
    return f"{marker.env}: promote {marker.app} {short(marker.digest)} from {marker.source}"


def note(text: str, limit: int = 300, *, mention: bool = False) -> str:
    """A person's text (a rollback's reason, a handle) made safe for a request body, the
    marker and a trailer: one line, bounded, no HTML comment or code span, and no mention
    unless ``mention`` (a handle)."""
    flat = " ".join(text.split()).replace("<", "\u2039").replace(">", "\u203a")
    flat = flat.replace("`", "'")
    if not mention:
        flat = flat.replace("@", "@\u200b")
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def rollback_pin(
    current: ImagePin, digest: str, *, keep_tag: bool | frozenset[str], tag: str = ""
) -> ImagePin:
    """What a rollback pins in the target: its own repository at ``digest``; where the
    layout needs a tag (`pin = "tag-and-digest"`, Helm's "tag" layout), ``tag`` (the one
    written beside that digest when it ran), else the one it has now. For an image unit,
    each part at its digest in the unit's key ``digest``."""
    if tag and keep_tag is True and not current.parts:
        return ImagePin(current.repository, tag, digest)
    return target_pin(current, digest, keep_tag=keep_tag)


MAX_BODY = 60_000  # GitHub refuses a pull request body past 65,536 characters


def body(
    marker: Marker,
    overlay: str | tuple[str, ...],
    reference: str,
    evidence: str,
    notes: tuple[str, ...],
    *,
    changes: str = "",
) -> str:
    """The request description: what changes (``changes``: ``changes.section``), why it is
    safe, and the marker; at most ``MAX_BODY`` characters, the marker always whole."""
    if marker.rollback:
        return _sized(_rollback_lines(marker, overlay, reference, notes), marker)
    lines = [
        f"Promotes **{marker.app}** from **{marker.source}** to **{marker.env}**: the same "
        "image digest that runs in the source environment, not a rebuild.",
        "",
        *_images(reference),
        _overlay_line(overlay),
        f"- source commit: `{marker.source_commit[:12]}`",
        "",
        *([changes, ""] if changes else []),
        "### Gate evidence",
        "",
        evidence or "No gates guard this environment.",
    ]
    if notes:
        lines += ["", "### Notes", "", *[f"- {note}" for note in notes]]
    return _sized(lines, marker)


def _overlay_line(overlay: str | tuple[str, ...]) -> str:
    """The files a request edits: its overlay, or a unit's part files."""
    files = (overlay,) if isinstance(overlay, str) else overlay
    label = "overlay" if len(files) == 1 else "overlays"
    return f"- {label}: {', '.join(f'`{file}`' for file in files)}"


def _rollback_lines(
    marker: Marker, overlay: str | tuple[str, ...], reference: str, notes: tuple[str, ...]
) -> list[str]:
    lines = [
        f"Rolls **{marker.app}** in **{marker.env}** back to a digest that ran there before: "
        f"{short(marker.replaces) if marker.replaces else 'what it pins now'} is replaced "
        f"by {short(marker.digest)}.",
        "",
        f"- image: `{reference}`",
        _overlay_line(overlay),
        f"- asked by: {marker.by or 'unknown'}",
        f"- reason: {marker.reason or 'none given'}",
        "",
        "### Gates",
        "",
        f"Not required: a rollback goes back to something that ran in {marker.env}; the "
        "gates on the source are not evaluated. Code-owner review applies as for any "
        "promotion.",
        "",
        "### After it merges",
        "",
        f"{short(marker.replaces) if marker.replaces else 'The replaced digest'} is held: "
        f"the daemon does not promote it into {marker.env} again.",
    ]
    if notes:
        lines += ["", "### Notes", "", *[f"- {note}" for note in notes]]
    return lines


def _sized(lines: list[str], marker: Marker) -> str:
    text = "\n".join(lines)
    end = f"\n\n{marker.render()}\n"
    if len(text) + len(end) > MAX_BODY:
        text = text[: MAX_BODY - len(end) - 60] + "\n\n(the rest was left out: too long)"
    return text + end


def _images(reference: str) -> list[str]:
    """The body's image line, or for an image unit (``PART=REFERENCE`` pairs) one per part."""
    if "=" not in reference:
        return [f"- image: `{reference}`"]
    pairs = [item.partition("=") for item in reference.split(" ")]
    return [
        "- images, promoted together as one unit:",
        *[f"  - {name}: `{ref}`" for name, _, ref in pairs],
    ]


def commit_message(marker: Marker, evidence_trailer: str) -> tuple[str, tuple[Trailer, ...]]:
    """The promotion commit's message and its trailers."""
    if marker.rollback:
        return _rollback_message(marker)
    message = f"{title(marker)}\n\nPinned by reconciler to the digest that {marker.source} runs."
    trailers = [
        Trailer(PROMOTED_FROM, marker.source),
        Trailer(IMAGE_DIGEST, marker.digest),
        Trailer(SOURCE_COMMIT, marker.source_commit),
        Trailer(PROMOTION_APP, marker.app),
        Trailer(PROMOTION_ENV, marker.env),
    ]
    if evidence_trailer:
        trailers.append(Trailer(GATE_EVIDENCE, evidence_trailer))
    return message, tuple(trailers)


def _rollback_message(marker: Marker) -> tuple[str, tuple[Trailer, ...]]:
    # The reason rides in its trailer only: free text in the body could end in a line that
    # reads as a trailer (``Promoted-From: x``) and join the trailer block.
    message = (
        f"{title(marker)}\n\nRolled back with `reconciler rollback`: {marker.env} ran "
        f"{short(marker.digest)} before."
    )
    trailers = [
        Trailer(IMAGE_DIGEST, marker.digest),
        Trailer(ROLLBACK_OF, marker.replaces or "none"),
        Trailer(ROLLBACK_REASON, " ".join(marker.reason.split()) or "none given"),
        Trailer(ROLLED_BACK_BY, marker.by or "unknown"),
        Trailer(PROMOTION_APP, marker.app),
        Trailer(PROMOTION_ENV, marker.env),
    ]
    return message, tuple(trailers)
