"""What an overlay pins (``ImagePin``), and the single-string form CI and Helm charts write:
``host:port/repo:tag@sha256:...``, split by the one grammar (``reconciler.imagerefs``)."""

from __future__ import annotations

from dataclasses import dataclass
from sys import intern

from reconciler.imagerefs import split_reference


@dataclass(frozen=True, slots=True)
class ImagePin:
    """What an overlay pins: repository, tag and digest ("" where absent), as written."""

    repository: str
    tag: str = ""
    digest: str = ""
    # An app of several images: each part's pin by part name, sorted; ``digest`` is then
    # the unit's key (reconciler.units), "" unless every part is pinned by digest.
    parts: tuple[tuple[str, ImagePin], ...] = ()

    def shared(self) -> ImagePin:
        """The same pin with its strings interned: the environments of a settled app pin
        the same repository and digest, held once instead of once per overlay (5 MB at
        10,000 apps)."""
        parts = tuple((name, pin.shared()) for name, pin in self.parts)
        return ImagePin(intern(self.repository), intern(self.tag), intern(self.digest), parts)

    def reference(self) -> str:
        """``repo[:tag][@digest]``, the single-string form (a unit's: each part's, as
        ``PART=REFERENCE`` joined by spaces)."""
        if self.parts:
            return " ".join(f"{name}={pin.reference()}" for name, pin in self.parts)
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(text: str) -> ImagePin:
    """Split ``repo[:tag][@digest]`` as written; PolicyError when ``text`` is not a valid
    reference (a malformed digest, tag or name)."""
    return ImagePin(*split_reference(text))
