"""Manifest media types and digests: what a registry's bytes are and whether they are honest.

Pure: bytes and header values in, values or errors out.
"""

from __future__ import annotations

import hashlib
import json

from reconciler.imagerefs import ALGORITHMS, DIGEST_FORMS, digest_problem, is_digest
from reconciler.registry.port import Manifest, ManifestMismatch

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
# Indexes first: a registry that can answer with either must give the multi-platform index,
# whose digest is the one every platform pulls.
MEDIA_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join(MEDIA_TYPES)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the distribution spec's limit registries enforce


def digest_of(body: bytes, algorithm: str = "sha256") -> str:
    """``<algorithm>:<hex>`` of ``body``, for an accepted algorithm (sha256 or sha512)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"digest algorithm {algorithm!r} is not accepted")
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def hashes_to(body: bytes, digest: str) -> bool:
    """Whether ``body`` hashes to ``digest``, an accepted form, with its own algorithm."""
    return is_digest(digest) and digest_of(body, digest.partition(":")[0]) == digest


def media_type_of(content_type: str | None, body: bytes) -> str | None:
    """The manifest's media type: the Content-Type when it names one, else the body's
    ``mediaType`` field; None when neither does."""
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in MEDIA_TYPES:
        return declared
    try:
        document = json.loads(body)
    except ValueError:
        return None
    field = document.get("mediaType") if isinstance(document, dict) else None
    return field if isinstance(field, str) and field in MEDIA_TYPES else None


def verified(
    body: bytes,
    *,
    media_type: str | None,
    expected: str | None,
    header: str | None,
    where: str,
) -> Manifest:
    """The manifest ``body`` if it hashes to the digest asked for (``expected``) and to the
    ``Docker-Content-Digest`` header when there is one, each with its own algorithm;
    ManifestMismatch otherwise. The manifest's digest is the one asked for, else sha256."""
    for claimed, source in ((expected, "the digest asked for"), (header, "its digest header")):
        if claimed is None:
            continue
        problem = digest_problem(claimed)
        if problem is not None:
            raise ManifestMismatch(
                f"{where}: {source} {claimed!r} cannot be checked: {problem} "
                f"(accepted: {DIGEST_FORMS}); refused"
            )
        hashed = digest_of(body, claimed.partition(":")[0])
        if claimed != hashed:
            raise ManifestMismatch(
                f"{where}: the manifest's bytes hash to {hashed}, not to {source} "
                f"{claimed}: refused (a registry or proxy is serving altered content)"
            )
    actual = digest_of(body, expected.partition(":")[0]) if expected else digest_of(body)
    if media_type is None:
        raise ManifestMismatch(
            f"{where}: the registry answered with no manifest media type the daemon knows "
            f"({', '.join(MEDIA_TYPES)})"
        )
    return Manifest(actual, media_type, body)
