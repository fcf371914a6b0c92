"""The image-registry port: resolve a tag, prove a digest exists, move a tag.

``repository`` is always the repository as a policy's ``image`` names it,
``host[:port]/path`` (see ``references.parse_repository``); a malformed one, tag or digest
is a PolicyError. Two adapters implement the port: ``registry.oci`` (any registry speaking
the OCI distribution API) and ``registry.ecr`` (Amazon ECR through its own API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from reconciler.errors import PermanentError


class ImageNotFound(PermanentError):
    """The registry does not know the repository, the tag or the digest."""


class ManifestMismatch(PermanentError):
    """A manifest's bytes do not hash to the digest the registry claims: refused."""


@dataclass(frozen=True, repr=False)
class Manifest:
    """A manifest (or index) exactly as stored: its digest, media type and bytes."""

    digest: str
    media_type: str
    body: bytes

    def __repr__(self) -> str:
        return f"Manifest({self.digest}, {self.media_type}, {len(self.body)} bytes)"


class ImageRegistry(Protocol):
    """What the daemon asks of a registry. Failures raise ``ImageNotFound``,
    ``ManifestMismatch``, TransientError (retry next cycle) or PermanentError."""

    def resolve(self, repository: str, tag: str) -> str:
        """The digest ``tag`` points to (of the index, for a multi-platform image)."""
        ...

    def exists(self, repository: str, digest: str) -> bool:
        """Whether the registry holds the manifest ``digest`` (False for an unknown repository)."""
        ...

    def tag(self, repository: str, digest: str, tag: str) -> bool:
        """Point ``tag`` at ``digest`` by re-putting its manifest; False when it already did."""
        ...

    def tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of ``repository``, sorted."""
        ...

    def new_cycle(self) -> None:
        """Start a new cycle: the per-registry request budget is full again."""
        ...
