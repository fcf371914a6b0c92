"""Small OCI images made on disk, pushed to a registry with ``skopeo``.

An image is an OCI image layout (a folder with ``oci-layout``, ``index.json`` and
``blobs/sha256/``): one tiny gzipped layer whose single file names the image, a config
and a manifest, or an image index over several platforms. The digest the tests expect is
the sha256 of the manifest bytes written here, computed independently of the code under test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
SKOPEO = "/usr/bin/skopeo"


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256(self.data)

    def descriptor(self, **extra: object) -> dict[str, object]:
        plain = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}
        return plain | extra


@dataclass(frozen=True)
class Image:
    """An image layout on disk and the digest of its top manifest (or index)."""

    layout: Path
    tag: str
    digest: str
    media_type: str
    manifest: bytes


def _layer(content: str) -> tuple[Blob, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = content.encode()
        info = tarfile.TarInfo("etc/image-name")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    diff_id = sha256(raw.getvalue())
    return Blob(OCI_LAYER, gzip.compress(raw.getvalue(), mtime=0)), diff_id


def _manifest(
    name: str, arch: str, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> tuple[Blob, list[Blob]]:
    layer, diff_id = _layer(f"{name} {arch}\n")
    settings = {"Labels": {k: v.format(arch=arch) for k, v in labels.items()}} if labels else {}
    config = Blob(
        OCI_CONFIG,
        json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": settings,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            },
            sort_keys=True,
        ).encode(),
    )
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    }
    if annotations:
        document["annotations"] = {k: v.format(arch=arch) for k, v in annotations.items()}
    # Not the compact form: the digest covers these exact bytes.
    manifest = Blob(OCI_MANIFEST, json.dumps(document, indent=2).encode())
    return manifest, [layer, config, manifest]


def build(
    folder: Path,
    name: str,
    tag: str,
    platforms: tuple[str, ...] = (),
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """Write an image layout for ``name`` in ``folder``: one manifest, or with
    ``platforms`` (architectures) an index over one manifest per platform. ``labels`` go in
    each config, ``annotations`` on each manifest (``{arch}`` in a value names its platform)."""
    blobs: list[Blob] = []
    labels, annotations = labels or {}, annotations or {}
    if platforms:
        entries = []
        for arch in platforms:
            manifest, parts = _manifest(name, arch, labels, annotations)
            blobs += parts
            entries.append(manifest.descriptor(platform={"architecture": arch, "os": "linux"}))
        top = Blob(
            OCI_INDEX,
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode(),
        )
        blobs.append(top)
    else:
        top, parts = _manifest(name, "amd64", labels, annotations)
        blobs += parts
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "blobs/sha256").mkdir(parents=True)
    for blob in blobs:
        (folder / "blobs/sha256" / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [top.descriptor(annotations={"org.opencontainers.image.ref.name": tag})],
    }
    (folder / "index.json").write_text(json.dumps(index))
    return Image(folder, tag, top.digest, top.media_type, top.data)


def skopeo(*args: str, policy: Path) -> str:
    """Run skopeo with an accept-anything signature policy; its stdout, or fail with stderr."""
    done = subprocess.run(
        [SKOPEO, "--policy", str(policy), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def write_policy(path: Path) -> Path:
    """A containers signature policy that accepts any image (test images are unsigned)."""
    path.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return path


def push(image: Image, destination: str, policy: Path, creds: str | None = None) -> None:
    """Copy ``image`` to ``docker://destination`` (plain HTTP), digests preserved."""
    auth = ["--dest-creds", creds] if creds else ["--dest-no-creds"]
    skopeo(
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        *auth,
        f"oci:{image.layout}:{image.tag}",
        f"docker://{destination}",
        policy=policy,
    )
