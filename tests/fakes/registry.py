"""An in-memory image registry for planner and applier tests: same port, same errors.

Manifests are kept by digest (the sha256 of their bytes) per repository, tags point at
digests. ``unreachable`` makes every call fail as a registry that cannot be reached does;
``calls`` records what was asked, so a test can assert that nothing was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping

from reconciler.errors import TransientError
from reconciler.imagerefs import check_digest, check_tag, parse_repository
from reconciler.registry.labels import read_labels
from reconciler.registry.port import (
    ImageLabels,
    ImageNotFound,
    ImageRegistry,
    Manifest,
    Proven,
    Resolved,
    exists_each,
    resolve_each,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


class FakeRegistry:
    """Repositories of manifests and tags, in memory."""

    def __init__(self) -> None:
        self._manifests: dict[str, dict[str, Manifest]] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._blobs: dict[str, dict[str, bytes]] = {}
        self.unreachable = False
        self.cycles = 0
        self.calls: list[tuple[str, ...]] = []

    # -- set-up, for tests --------------------------------------------------------------------

    def push(
        self, repository: str, tag: str | None, body: bytes, media_type: str = OCI_MANIFEST
    ) -> str:
        """Store ``body`` in ``repository`` (created if new), under ``tag`` if given."""
        name = parse_repository(repository).repository
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self._manifests.setdefault(name, {})[digest] = Manifest(digest, media_type, body)
        tags = self._tags.setdefault(name, {})
        if tag is not None:
            tags[check_tag(tag)] = digest
        return digest

    def push_image(
        self,
        repository: str,
        tag: str | None,
        content: str,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Store a small manifest that names ``content`` (with ``labels``, a config blob
        holding them as an image config does); its digest."""
        document: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "content": content,
        }
        if labels is not None:
            config = json.dumps({"config": {"Labels": dict(labels)}, "content": content}).encode()
            document["config"] = {
                "mediaType": OCI_CONFIG,
                "digest": self.push_blob(repository, config),
                "size": len(config),
            }
        return self.push(repository, tag, json.dumps(document).encode())

    def push_blob(self, repository: str, data: bytes) -> str:
        """Store a blob (an image config); its digest."""
        name = parse_repository(repository).repository
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self._blobs.setdefault(name, {})[digest] = data
        return digest

    def delete_tag(self, repository: str, tag: str) -> None:
        """Remove ``tag`` (the manifest stays)."""
        del self._tags[parse_repository(repository).repository][tag]

    def digest_of(self, repository: str, tag: str) -> str | None:
        """What ``tag`` points to, read without going through the port."""
        return self._tags.get(parse_repository(repository).repository, {}).get(tag)

    # -- the port -----------------------------------------------------------------------------

    def resolve(self, repository: str, tag: str) -> str:
        """The digest ``tag`` points to."""
        name = self._enter("resolve", repository, tag)
        check_tag(tag, where=f"{repository}:{tag}")
        digest = self._repository(name).get(tag)
        if digest is None:
            raise ImageNotFound(f"registry {name} has no tag {tag!r}")
        return digest

    def exists(self, repository: str, digest: str) -> bool:
        """Whether ``digest`` is stored in ``repository``."""
        name = self._enter("exists", repository, digest)
        check_digest(digest, where=f"{repository}@{digest}")
        return digest in self._manifests.get(name, {})

    def resolve_all(self, repository: str, tags: Collection[str]) -> Resolved:
        """Each tag's digest or error, as ``resolve`` gives it; recorded as one call too."""
        self.calls.append(("resolve_all", repository, *tags))
        return resolve_each(self, repository, tags)

    def exists_all(self, repository: str, digests: Collection[str]) -> Proven:
        """Each digest's ``exists``; recorded as one call too."""
        self.calls.append(("exists_all", repository, *digests))
        return exists_each(self, repository, digests)

    def labels(self, repository: str, digest: str) -> ImageLabels:
        """The labels of ``digest``, read from its manifests and config as the adapters do."""
        name = self._enter("labels", repository, digest)
        check_digest(digest, where=f"{repository}@{digest}")

        def manifest(ref: str) -> Manifest:
            found = self._manifests.get(name, {}).get(ref)
            if found is None:
                raise ImageNotFound(f"registry {name} has no image {ref}")
            return found

        def blob(ref: str) -> bytes:
            found = self._blobs.get(name, {}).get(ref)
            if found is None:
                raise ImageNotFound(f"registry {name} has no blob {ref}")
            return found

        return read_labels(manifest, blob, digest)

    def tag(self, repository: str, digest: str, tag: str) -> bool:
        """Point ``tag`` at ``digest``; False when it already does."""
        name = self._enter("tag", repository, digest, tag)
        check_digest(digest, where=f"{repository}@{digest}")
        check_tag(tag, where=f"{repository}:{tag}")
        tags = self._repository(name)
        if digest not in self._manifests[name]:
            raise ImageNotFound(f"registry {name} has no image {digest}")
        if tags.get(tag) == digest:
            return False
        tags[tag] = digest
        return True

    def tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of ``repository``, sorted."""
        name = self._enter("tags", repository)
        return tuple(sorted(self._repository(name)))

    def new_cycle(self) -> None:
        """Count cycles (the fake has no budget)."""
        self.cycles += 1

    def _enter(self, operation: str, repository: str, *args: str) -> str:
        self.calls.append((operation, repository, *args))
        name = parse_repository(repository)
        if self.unreachable:
            raise TransientError(f"registry {name.host} is unreachable: connection refused")
        return name.repository

    def _repository(self, name: str) -> dict[str, str]:
        tags = self._tags.get(name)
        if tags is None:
            raise ImageNotFound(f"repository {name} does not exist")
        return tags


_: ImageRegistry = FakeRegistry()
