"""ECR's answers to calls about many image ids, read per id (pure; the calls are ``ecr.py``'s).

``describe_images`` gives one ``imageDetails`` entry per image, with its digest and every
tag it has, and no manifest; it has no per-id failures, so one unknown id fails the whole
call (ImageNotFoundException). ``batch_get_image`` gives each id it found in ``images``
(``imageId`` and the manifest) and each it did not in ``failures`` (``imageId``,
``failureCode``). Both take at most 100 ids a call (``ImageIdentifierList``). A failure's
code is read as the single calls read it: ``TRANSIENT_FAILURES`` are worth asking again next
cycle, ``ImageNotFound`` (or an id in neither list) is ImageNotFound, any other code refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from reconciler.errors import PermanentError, ReconcilerError, TransientError
from reconciler.imagerefs import ImageName, is_digest, parse_repository
from reconciler.registry.manifests import media_type_of, verified
from reconciler.registry.port import (
    ImageNotFound,
    Manifest,
    ManifestMismatch,
    Proven,
    Resolved,
)

MAX_IDS = 100
TRANSIENT_FAILURES = frozenset(
    {"KmsError", "UpstreamAccessDenied", "UpstreamTooManyRequests", "UpstreamUnavailable"}
)
_T = TypeVar("_T")


def each(
    repository: str,
    ids: Collection[str],
    check: Callable[..., str],
    separator: str,
    ask: Callable[[ImageName, Sequence[str]], dict[str, _T | ReconcilerError]],
) -> dict[str, _T | ReconcilerError]:
    """``ask`` about the well-formed ``ids`` (duplicates once) in runs of ``MAX_IDS``; an
    error failing a whole call, or the repository's name, is the answer of each id it hit."""
    asked = list(dict.fromkeys(ids))
    try:
        name = parse_repository(repository)
    except ReconcilerError as exc:
        return dict.fromkeys(asked, exc)
    found: dict[str, _T | ReconcilerError] = {}
    valid = []
    for ident in asked:
        try:
            check(ident, where=f"{repository}{separator}{ident}")
        except ReconcilerError as exc:
            found[ident] = exc
        else:
            valid.append(ident)
    for chunk in chunks(valid):
        try:
            found |= ask(name, chunk)
        except ReconcilerError as exc:
            found |= dict.fromkeys(chunk, exc)
    return found


def chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """``ids`` in runs of at most ``MAX_IDS``, one call each."""
    for start in range(0, len(ids), MAX_IDS):
        yield ids[start : start + MAX_IDS]


def proven(found: Mapping[str, Manifest | ReconcilerError]) -> Proven:
    """``exists``' answers from the manifests read: an unknown image is False."""
    answers: Proven = {}
    for digest, answer in found.items():
        if isinstance(answer, Manifest):
            answers[digest] = True
        elif isinstance(answer, ImageNotFound):
            answers[digest] = False
        else:
            answers[digest] = answer
    return answers


def no_tag(repository: str, tag: str) -> ImageNotFound:
    """What resolving an unknown tag raises."""
    return ImageNotFound(f"ECR repository {repository} has no tag {tag!r}")


def described(answer: Mapping[str, Any], tags: Sequence[str], repository: str) -> Resolved:
    """describe_images' answer for ``tags``: each tag an image lists gets its digest; the
    only tag asked takes the first image however it is listed, as ``resolve`` does."""
    asked = set(tags)
    only = tags[0] if len(tags) == 1 else None
    found: Resolved = {}
    for detail in answer.get("imageDetails", []):
        digest = detail.get("imageDigest")
        if not isinstance(digest, str):
            continue
        listed = [tag for tag in detail.get("imageTags") or () if tag in asked]
        for tag in listed or ([only] if only else []):
            found.setdefault(tag, _claimed(digest, repository, tag))
    for tag in tags:
        found.setdefault(tag, no_tag(repository, tag))
    return found


def fetched_tags(answer: Mapping[str, Any], tags: Sequence[str], repository: str) -> Resolved:
    """batch_get_image's answer for ``tags``: each tag an image's ``imageId`` or a failure
    names. A tag named by neither is left out: moto names a found image by the last tag put
    on it, not the one asked, so only another call can tell."""
    asked = set(tags)
    found: Resolved = {}
    for image in answer.get("images", []):
        ident = image.get("imageId") or {}
        tag, digest = ident.get("imageTag"), ident.get("imageDigest")
        if tag in asked and isinstance(digest, str):
            found.setdefault(tag, _claimed(digest, repository, tag))
    named, _ = _failures(answer, "imageTag", asked)
    for tag, codes in named.items():
        found.setdefault(tag, failed(codes, f"{repository}:{tag}", no_tag(repository, tag)))
    return found


def manifests(
    answer: Mapping[str, Any], digests: Sequence[str], repository: str
) -> dict[str, Manifest | ReconcilerError]:
    """batch_get_image's answer for ``digests``: each manifest whose bytes hash to the digest
    asked (ManifestMismatch if not), else the error its failures tell. A failure that names
    no digest asked (moto names a missing digest ``imageTag: "null"``) counts for every
    digest left without an image, as it does for the only one asked."""
    asked = set(digests)
    only = digests[0] if len(digests) == 1 else None
    found: dict[str, Manifest | ReconcilerError] = {}
    for image in answer.get("images", []):
        text = image.get("imageManifest")
        header = (image.get("imageId") or {}).get("imageDigest")
        digest = header if header in asked else only
        if not isinstance(text, str) or digest is None or digest in found:
            continue
        body = text.encode("utf-8")
        declared = image.get("imageManifestMediaType")
        try:
            found[digest] = verified(
                body,
                media_type=media_type_of(declared if isinstance(declared, str) else None, body),
                expected=digest,
                header=header,
                where=f"ECR {repository}@{digest}",
            )
        except ReconcilerError as exc:
            found[digest] = exc
    named, loose = _failures(answer, "imageDigest", asked)
    for digest in digests:
        if digest not in found:
            missing = ImageNotFound(f"ECR repository {repository} has no image {digest}")
            codes = named.get(digest, set()) | loose
            found[digest] = failed(codes, f"{repository}@{digest}", missing)
    return found


def failed(codes: Collection[object], reference: str, missing: ImageNotFound) -> ReconcilerError:
    """The error for an id ECR answered with failure ``codes`` (none: it answered nothing)."""
    listed = ", ".join(sorted(str(code) for code in codes))
    if set(codes) & TRANSIENT_FAILURES:
        return TransientError(f"ECR could not read {reference} ({listed}); retrying next cycle")
    if set(codes) - {"ImageNotFound", None}:
        return PermanentError(f"ECR refused to read {reference} ({listed})")
    return missing


def _claimed(digest: str, repository: str, tag: str) -> str | ReconcilerError:
    if is_digest(digest):
        return digest
    return ManifestMismatch(
        f"ECR answered {digest!r} for {repository}:{tag}: not a digest the daemon accepts; refused"
    )


def _failures(
    answer: Mapping[str, Any], key: str, asked: Collection[str]
) -> tuple[dict[str, set[object]], set[object]]:
    """Failure codes by the asked id each names, and the codes of those naming none."""
    named: dict[str, set[object]] = {}
    loose: set[object] = set()
    for failure in answer.get("failures", []):
        ident = (failure.get("imageId") or {}).get(key)
        code = failure.get("failureCode")
        if isinstance(ident, str) and ident in asked:
            named.setdefault(ident, set()).add(code)
        else:
            loose.add(code)
    return named, loose
