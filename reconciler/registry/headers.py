"""The registry API's header grammar: auth challenges, Retry-After and Link.

Pure: header values in, values out; malformed input gives None, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^",\s]*))\s*(?:,|$)')
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Challenge:
    """A ``WWW-Authenticate`` challenge: the scheme (lower case) and its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenge(value: str | None) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` value (``Bearer realm="...",...``)."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if not scheme:
        return None
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        found = _PARAM.match(rest, position)
        if found is None or found.end() == position:
            break
        quoted, bare = found[2], found[3]
        params[found[1].lower()] = (
            re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        )
        position = found.end()
    return Challenge(scheme.lower(), MappingProxyType(params))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or an HTTP date); None if absent
    or malformed. A date in the past gives 0."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def next_link(value: str | None) -> str | None:
    """The target of the ``rel="next"`` entry of a ``Link`` header, or None."""
    if not value:
        return None
    for found in _LINK.finditer(value):
        params = [p.strip() for p in found[2].split(";") if p.strip()]
        for param in params:
            name, _, rel = param.partition("=")
            if name.strip().lower() == "rel" and "next" in rel.strip().strip('"').split():
                return found[1]
    return None
