"""The image-registry port: resolve a tag, prove a digest exists, move a tag, read labels.

``repository`` is always the repository as a policy's ``image`` names it,
``host[:port]/path`` (see ``references.parse_repository``); a malformed one, tag or digest
is a PolicyError. Two adapters implement the port: ``registry.oci`` (any registry speaking
the OCI distribution API) and ``registry.ecr`` (Amazon ECR through its own API).

``resolve_all`` and ``exists_all`` ask about many tags or digests of one repository at once,
for a registry whose API answers many in one call (ECR); each answer is what the single call
would return or raise, so a registry without such a call loops (``resolve_each``,
``exists_each``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol, TypeAlias, TypeVar

from reconciler.errors import PermanentError, ReconcilerError

A = TypeVar("A")
Resolved: TypeAlias = dict[str, str | ReconcilerError]
"""tag -> the digest it points to, or the error resolving it alone raises."""
Proven: TypeAlias = dict[str, bool | ReconcilerError]
"""digest -> whether the repository holds it, or the error asking alone raises."""


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


@dataclass(frozen=True)
class ImageLabels:
    """What an image says of itself: the OCI annotation keys ``org.opencontainers.image.``
    ``revision``, ``source``, ``version`` and ``created``, from its config's labels (or its
    manifest's or index's annotations); None where the image does not say."""

    revision: str | None = None
    source: str | None = None
    version: str | None = None
    created: str | None = None

    @property
    def known(self) -> bool:
        """Whether the image said anything at all."""
        return any((self.revision, self.source, self.version, self.created))


class ImageRegistry(Protocol):
    """What the daemon asks of a registry. Failures raise ``ImageNotFound``,
    ``ManifestMismatch``, TransientError (retry next cycle) or PermanentError."""

    def resolve(self, repository: str, tag: str) -> str:
        """The digest ``tag`` points to (of the index, for a multi-platform image)."""
        ...

    def exists(self, repository: str, digest: str) -> bool:
        """Whether the registry holds the manifest ``digest`` (False for an unknown repository)."""
        ...

    def resolve_all(self, repository: str, tags: Collection[str]) -> Resolved:
        """Each of ``tags`` (duplicates asked once) -> what ``resolve`` returns for it, or
        the error it raises (``ImageNotFound`` for an unknown tag or repository). Raises no
        ReconcilerError itself: a failure of the whole request is every tag's answer."""
        ...

    def exists_all(self, repository: str, digests: Collection[str]) -> Proven:
        """Each of ``digests`` -> what ``exists`` returns for it, or the error it raises;
        like ``resolve_all``, raises no ReconcilerError itself."""
        ...

    def labels(self, repository: str, digest: str) -> ImageLabels:
        """What the image ``digest`` says of itself (for an index: its own annotations, else
        the linux/amd64 manifest's, else its first's); an image without labels gives an
        empty ``ImageLabels``. Image config is immutable: callers may keep the answer."""
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


def resolve_each(registry: ImageRegistry, repository: str, tags: Collection[str]) -> Resolved:
    """``resolve_all`` as one ``resolve`` per tag, for a registry with no batched read."""
    return _each(lambda tag: registry.resolve(repository, tag), tags)


def exists_each(registry: ImageRegistry, repository: str, digests: Collection[str]) -> Proven:
    """``exists_all`` as one ``exists`` per digest, for a registry with no batched read."""
    return _each(lambda digest: registry.exists(repository, digest), digests)


def _each(read: Callable[[str], A], ids: Collection[str]) -> dict[str, A | ReconcilerError]:
    """``read`` of each distinct id, in order; what it raises is that id's answer."""
    found: dict[str, A | ReconcilerError] = {}
    for ident in dict.fromkeys(ids):
        try:
            found[ident] = read(ident)
        except ReconcilerError as exc:
            found[ident] = exc
    return found
