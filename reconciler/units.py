"""The identity of an image unit: the digests of an app of several images, as one string.

An app of several images (`[apps.NAME.images.PART]`) is promoted as one unit: a candidate is
the set of digests its source overlay pins. Everywhere one digest identifies a candidate
(the plan, gate samples, soak, the request marker, the audit trailers, the metrics), a unit
is identified by its key, ``PART=DIGEST`` pairs sorted by part name and joined by ``,``
(``app=sha256:…,migrate=sha256:…``): the key names its parts' digests, so a pin, a live
sighting or a marker of the same set gives the same key and any other gives another.

Pure; imports nothing of the daemon's but the digest grammar.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.imagerefs import is_digest

SEPARATOR = ","


def key(digests: Mapping[str, str]) -> str:
    """The unit key of ``digests`` (part name -> digest); "" when a part has no digest."""
    if not digests or not all(digests.values()):
        return ""
    return SEPARATOR.join(f"{part}={digests[part]}" for part in sorted(digests))


def is_unit(digest: str) -> bool:
    """Whether ``digest`` is a unit key rather than one image's digest."""
    return "=" in digest


def parts(unit: str) -> dict[str, str] | None:
    """The part name -> digest pairs of a unit key; None when ``unit`` is not a well-formed
    key (each digest of the image spec's form, parts named once and sorted)."""
    out: dict[str, str] = {}
    for item in unit.split(SEPARATOR):
        name, sep, digest = item.partition("=")
        if not sep or not name or name in out or not is_digest(digest):
            return None
        out[name] = digest
    return out if key(out) == unit else None


def is_identity(digest: str) -> bool:
    """Whether ``digest`` is one image's digest or a well-formed unit key."""
    return parts(digest) is not None if is_unit(digest) else is_digest(digest)
