"""What an image says of itself: the OCI ``org.opencontainers.image.*`` keys read from its
config's labels, its manifest's annotations and its index's annotations.

Pure: manifest and config bytes in, ``ImageLabels`` out; anything malformed reads as
"no labels", never an error, since labels only inform a request's text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.imagerefs import is_digest
from reconciler.registry.manifests import DOCKER_LIST, OCI_INDEX
from reconciler.registry.port import ImageLabels, Manifest

PREFIX = "org.opencontainers.image."
KEYS = ("revision", "source", "version", "created")
MAX_VALUE = 256  # a label is free text pushed by anyone who builds: bounded before it is shown
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The platform a daemon's own images usually run on; an index without it gives its first.
PREFERRED_PLATFORM = ("linux", "amd64")


def read_labels(
    manifest: Callable[[str], Manifest], blob: Callable[[str], bytes] | None, digest: str
) -> ImageLabels:
    """The labels of the image ``digest``, read through an adapter's ``manifest`` (checked
    against the digest it is asked for) and ``blob`` (None: the registry gives no blobs, so
    only annotations are read): the config's labels, then the manifest's annotations, then
    the index's."""
    top = manifest(digest)
    sources = [annotations_of(top.body)]
    image = top
    if is_index(top.media_type):
        child = platform_manifest(top.body)
        if child is None:
            return image_labels(*sources)
        image = manifest(child)
    sources.insert(0, annotations_of(image.body))
    config = config_digest(image.body)
    if config is not None and blob is not None:
        sources.insert(0, config_labels(blob(config)))
    return image_labels(*sources)


def image_labels(*sources: Mapping[str, str]) -> ImageLabels:
    """The four keys, each from the first of ``sources`` that gives it a non-empty value."""
    found: dict[str, str | None] = dict.fromkeys(KEYS)
    for source in sources:
        for key in KEYS:
            if found[key] is None:
                found[key] = _clean(source.get(PREFIX + key))
    return ImageLabels(**found)


def is_index(media_type: str) -> bool:
    """Whether ``media_type`` is a multi-platform index (OCI or Docker's list)."""
    return media_type in (OCI_INDEX, DOCKER_LIST)


def annotations_of(body: bytes) -> dict[str, str]:
    """A manifest's or an index's ``annotations`` (string values only)."""
    return _strings(_document(body).get("annotations"))


def config_digest(body: bytes) -> str | None:
    """The digest of an image manifest's config blob, None when it names none."""
    config = _document(body).get("config")
    digest = config.get("digest") if isinstance(config, dict) else None
    return digest if isinstance(digest, str) and is_digest(digest) else None


def config_labels(body: bytes) -> dict[str, str]:
    """An image config's ``config.Labels`` (string values only)."""
    config = _document(body).get("config")
    return _strings(config.get("Labels") if isinstance(config, dict) else None)


def platform_manifest(body: bytes) -> str | None:
    """The digest of an index's manifest for ``PREFERRED_PLATFORM``, else of its first
    image manifest (attestations, whose platform is unknown/unknown, are skipped)."""
    entries = _document(body).get("manifests")
    first: str | None = None
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not is_digest(str(entry.get("digest", ""))):
            continue
        platform = entry.get("platform") if isinstance(entry.get("platform"), dict) else {}
        assert isinstance(platform, dict)
        system, arch = platform.get("os"), platform.get("architecture")
        if (system, arch) == PREFERRED_PLATFORM:
            return str(entry["digest"])
        if first is None and system != "unknown":
            first = str(entry["digest"])
    return first


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = _CONTROL.sub("", value).strip()
    return text[:MAX_VALUE] or None
