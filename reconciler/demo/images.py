"""The demo's two builds of order-gateway, as an OCI registry holds them: a manifest and an
image config carrying the ``org.opencontainers.image.*`` labels a CI build sets (version,
revision, source, created), so the prod request can say what the promotion changes.

Made here, byte for byte, so their digests are real: the daemon checks every manifest and
config it reads against its digest. No layer is pulled by anyone, so there is none.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SOURCE = "https://github.com/swiggy-platform/order-gateway"


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class DemoImage:
    """One build: its tag, labels, config and manifest bytes."""

    tag: str
    version: str
    revision: str
    config: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        """The manifest's digest: what the overlays pin."""
        return sha256(self.manifest)


def build(tag: str, version: str, revision: str, created: str, source: str = SOURCE) -> DemoImage:
    """The image CI would have pushed for ``revision`` of ``source``."""
    labels = {
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.created": created,
    }
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": []},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [],
        },
        indent=2,
    ).encode()
    return DemoImage(tag, version, revision, config, manifest)


# What every environment runs when the demo starts, and what CI builds next.
RUNNING = build(
    "a41c2d0", "1.4.0", "a41c2d0e9b8f7a6c5d4e3f2a1b0c9d8e7f6a5b4c", "2026-11-20T10:00:00Z"
)
BUILT = build(
    "b7e2f90", "1.5.0", "b7e2f90c2c5d9f1e6a4b3c8d7e6f5a4b3c2d1e0f", "2026-12-01T10:00:00Z"
)

# The ledger, an app of two images promoted as one unit: its api and its database
# migrations, built from one repository. CI rebuilds the api only.
LEDGER = "https://github.com/swiggy-platform/ledger"
LEDGER_API = build(
    "c90e1a4", "2.3.0", "c90e1a4f3b2a1908d7c6b5a49382716a5b4c3d2e", "2026-11-18T10:00:00Z", LEDGER
)
LEDGER_MIGRATE = build(
    "c90e1a4", "2.3.0", "c90e1a4f3b2a1908d7c6b5a49382716a5b4c3d2e", "2026-11-18T10:05:00Z", LEDGER
)
LEDGER_API_BUILT = build(
    "d41f7b2", "2.4.0", "d41f7b2a0c9e8d7f6a5b4c3d2e1f0a9b8c7d6e5f", "2026-12-02T10:00:00Z", LEDGER
)
