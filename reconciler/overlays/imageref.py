"""Image references as CI and Helm charts write them: ``host:port/repo:tag@sha256:...``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImagePin:
    """What an overlay pins: repository, tag and digest ("" where absent)."""

    repository: str
    tag: str = ""
    digest: str = ""

    def reference(self) -> str:
        """``repo[:tag][@digest]``, the single-string form."""
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(text: str) -> ImagePin:
    """Split ``repo[:tag][@digest]``; a ``:`` before the last ``/`` is a registry port."""
    rest, _, digest = text.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return ImagePin(rest[:colon], rest[colon + 1 :], digest)
    return ImagePin(rest, "", digest)
