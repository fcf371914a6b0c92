"""How a promotion is named and written down: branch, title, body marker, commit trailers.

Everything here is deterministic in its inputs, which is what makes every write idempotent:
a restarted daemon, or a second one, computes the same branch name and finds the request
by its marker instead of opening another.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from reconciler.gitrepo.trailers import Trailer
from reconciler.imagerefs import is_digest
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


def target_pin(source: ImagePin, digest: str, *, keep_tag: bool) -> ImagePin:
    """What a promotion pins in the target: the source's repository and ``digest`` (and its
    tag, with `pin = "tag-and-digest"`)."""
    return ImagePin(source.repository, source.tag if keep_tag else "", digest)


def keeps_tag(policy: Policy, app: App, target: Environment) -> bool:
    """Whether a promotion into ``target`` keeps the source's tag beside the digest: with
    `pin = "tag-and-digest"`, and always for a Helm chart that renders repository:tag (the
    "tag" layout), where the digest can only ride in the tag."""
    if policy.settings.pin == "tag-and-digest":
        return True
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

    def render(self) -> str:
        """A hidden HTML comment that survives edits of the visible body."""
        data = {
            "v": 1,
            "app": self.app,
            "env": self.env,
            "source": self.source,
            "digest": self.digest,
            "source_commit": self.source_commit,
        }
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
        )
    except (ValueError, KeyError, TypeError):
        return None
    # Anyone who can edit the body can edit the marker: a digest not of the image spec's
    # form is a damaged marker, never a digest to compare or to pin.
    return marker if is_digest(marker.digest) else None


def title(marker: Marker) -> str:
    """``prod: promote order-gateway sha256:abcd1234 from staging``."""
    return f"{marker.env}: promote {marker.app} {short(marker.digest)} from {marker.source}"


MAX_BODY = 60_000  # GitHub refuses a pull request body past 65,536 characters


def body(
    marker: Marker,
    overlay: str,
    reference: str,
    evidence: str,
    notes: tuple[str, ...],
    *,
    changes: str = "",
) -> str:
    """The request description: what changes (``changes``: ``changes.section``), why it is
    safe, and the marker; at most ``MAX_BODY`` characters, the marker always whole."""
    lines = [
        f"Promotes **{marker.app}** from **{marker.source}** to **{marker.env}**: the same "
        "image digest that runs in the source environment, not a rebuild.",
        "",
        f"- image: `{reference}`",
        f"- overlay: `{overlay}`",
        f"- source commit: `{marker.source_commit[:12]}`",
        "",
        *([changes, ""] if changes else []),
        "### Gate evidence",
        "",
        evidence or "No gates guard this environment.",
    ]
    if notes:
        lines += ["", "### Notes", "", *[f"- {note}" for note in notes]]
    text = "\n".join(lines)
    end = f"\n\n{marker.render()}\n"
    if len(text) + len(end) > MAX_BODY:
        text = text[: MAX_BODY - len(end) - 60] + "\n\n(the rest was left out: too long)"
    return text + end


def commit_message(marker: Marker, evidence_trailer: str) -> tuple[str, tuple[Trailer, ...]]:
    """The promotion commit's message and its trailers."""
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
