"""Small rules shared across layers: short digests, kustomization file names, and the
read-only view of a repo's files that policy checks, the git port and a work tree share.
(Image references and digests are parsed by ``reconciler.imagerefs``.)

Everything here is pure and imports nothing of the daemon's, so any layer may use it.
"""

from __future__ import annotations

from typing import Literal, Protocol


def short(digest: str) -> str:
    """``sha256:abcd1234``: the prefix people compare, in titles, plans and evidence; for
    an image unit's key (``reconciler.units``), each part's: ``app=sha256:abcd1234,…``."""
    if "=" in digest:
        return ",".join(
            f"{n}={d[:15]}" for n, _, d in (p.partition("=") for p in digest.split(","))
        )
    return digest[:15]


# The file names kustomize looks for in an overlay folder, in its order of preference.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


EntryKind = Literal["dir", "file", "missing", "escapes"]


class RepoTree(Protocol):
    """Read-only view of a config repo's files (a folder on disk, or a commit's tree)."""

    def kind(self, path: str) -> EntryKind:
        """What ``path`` (relative, "/"-separated) is; "escapes" if a symlink leaves the repo."""
        ...
