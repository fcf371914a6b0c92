"""A config repo whose 22 apps share one staging kustomization (one `images` entry each).

Dev has one folder per app; staging follows dev with `auto_merge` and no gates, so what is
tested is only how promotions into the one shared file meet each other and people's edits.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.clock import utc_now
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import create_repository

APPS = [f"app{i}" for i in range(22)]
OLD = "sha256:" + "0" * 64
STAGING = "overlays/staging/kustomization.yaml"
POLICY = (
    "version = 1\n"
    + "".join(f'[apps.{a}]\nimage = "r.io/{a}"\n' for a in APPS)
    + (
        '[environments.dev]\noverlay = "overlays/dev/{app}"\n'
        '[environments.staging]\nfollows = "dev"\noverlay = "overlays/staging"\nauto_merge = true\n'
    )
)
WHO = Signature("someone", "someone@example.com", utc_now().replace(microsecond=0))


def kustomization(pins: dict[str, str]) -> bytes:
    """A kustomization pinning each app of ``pins`` by digest, one entry each."""
    lines = ["images:"] + [f"- name: {a}\n  digest: {d}" for a, d in pins.items()]
    return ("\n".join(lines) + "\n").encode()


def seed(root: Path, dev: dict[str, str], staging: dict[str, str]) -> Path:
    """A bare config repo at ``root/config.git`` pinning ``dev`` and ``staging``."""
    remote = root / "config.git"
    files = {
        "promotions.toml": POLICY.encode(),
        STAGING: kustomization(staging),
        **{f"overlays/dev/{a}/kustomization.yaml": kustomization({a: d}) for a, d in dev.items()},
    }
    create_repository(remote, files, branch="main", message="seed", author=WHO)
    return remote
