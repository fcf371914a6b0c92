"""What an overlay pins, held to the one image grammar (``reconciler.imagerefs``): a
malformed digest, tag or repository is refused at its FILE:LINE:COL, so the overlay is
``overlay-invalid`` and nothing it pins is ever a candidate.

Values are kept as written (a file is never rewritten into the normalised form); only
their validity is decided here.
"""

from __future__ import annotations

from reconciler.errors import PolicyError
from reconciler.imagerefs import check_digest, check_tag, parse_repository, split_reference
from reconciler.overlays.imageref import ImagePin
from reconciler.overlays.yamldoc import YMap, YScalar
from reconciler.policy.model import HelmKeys


def where(file: str, node: YScalar) -> str:
    """``FILE:LINE:COL`` of ``node``."""
    return f"{file}:{node.span.line}:{node.span.column}"


def repository_at(file: str, node: YScalar, what: str) -> str:
    """The repository ``node`` holds (no tag, no digest), checked."""
    here = f"{where(file, node)}: {what}"
    try:
        parse_repository(node.value)
    except PolicyError as exc:
        raise PolicyError(f"{here}: {exc}") from None
    return node.value


def tag_at(file: str, node: YScalar, what: str) -> tuple[str, str]:
    """``(tag, digest)`` of a tag value, checked; a tag may carry ``@DIGEST`` (``v1@sha256:...``),
    which a renderer writes after the tag as it stands."""
    here = f"{where(file, node)}: {what}"
    text, at_sign, digest = node.value.partition("@")
    if text:
        check_tag(text, where=here)
    if at_sign:
        check_digest(digest, where=here)
    return text, digest


def digest_at(file: str, node: YScalar, what: str) -> str:
    """The digest ``node`` holds, checked."""
    return check_digest(node.value, where=f"{where(file, node)}: {what}")


def reference_at(file: str, node: YScalar, what: str) -> ImagePin:
    """The single-string ``repo[:tag][@digest]`` ``node`` holds, checked and split as written."""
    try:
        name, tag, digest = split_reference(node.value)
    except PolicyError as exc:
        raise PolicyError(f"{where(file, node)}: {what}: {exc}") from None
    return ImagePin(name, tag, digest)


def helm_values(
    file: str,
    keys: HelmKeys,
    repository: YScalar,
    tag: YScalar | None,
    digest: YScalar | None,
) -> ImagePin:
    """The pin of the repository, tag and digest keys of a values file, each checked and kept
    as written (a tag carrying ``@DIGEST`` is checked, and stays the tag)."""
    if repository.value:
        repository_at(file, repository, keys.repository)
    if tag is not None and tag.value:
        tag_at(file, tag, keys.tag)
    if digest is not None and digest.value:
        digest_at(file, digest, keys.digest)
    return ImagePin(repository.value, tag.value if tag else "", digest.value if digest else "")


def kustomize_entry(file: str, node: YMap) -> ImagePin:
    """The pin of one `images` entry, each field checked: ``newName`` (else ``name``) is the
    repository, ``newTag`` a tag that may carry the digest, ``digest`` the digest (not both)."""
    fields = {key: _scalar(node, key) for key in ("name", "newName", "newTag", "digest")}
    named = fields["newName"] or fields["name"]
    assert named is not None  # read_images refuses an entry with no name
    repo = repository_at(file, named, f"images[].{'newName' if fields['newName'] else 'name'}")
    new_tag = fields["newTag"]
    tag, carried = tag_at(file, new_tag, "images[].newTag") if new_tag else ("", "")
    digest = digest_at(file, fields["digest"], "images[].digest") if fields["digest"] else ""
    if carried and digest:
        raise PolicyError(
            f"{where(file, new_tag or named)}: images[].newTag carries a digest and "
            "images[].digest gives another: keep one of them"
        )
    return ImagePin(repo, tag, digest or carried)


def _scalar(node: YMap, key: str) -> YScalar | None:
    found = node.get(key)
    if not isinstance(found, YScalar) or found.tag.endswith(":null") or not found.value:
        return None
    return found
