"""Small rules shared across layers: digest and repository names, kustomization file names,
and the read-only view of a repo's files that policy checks, the git port and a work tree share.

Everything here is pure and imports nothing of the daemon's, so any layer may use it.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol

# A repository path as the OCI distribution spec allows, optionally after a registry host
# (with port). Tags and digests are not part of a repository.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?)"
_REPOSITORY = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*$")


def short(digest: str) -> str:
    """``sha256:abcd1234``: the prefix people compare, in titles, plans and evidence."""
    return digest[:15]


def is_repository(text: str) -> bool:
    """True when ``text`` names an image repository with no tag and no digest."""
    return len(text) <= 255 and bool(_REPOSITORY.match(text))


# The file names kustomize looks for in an overlay folder, in its order of preference.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


EntryKind = Literal["dir", "file", "missing", "escapes"]


class RepoTree(Protocol):
    """Read-only view of a config repo's files (a folder on disk, or a commit's tree)."""

    def kind(self, path: str) -> EntryKind:
        """What ``path`` (relative, "/"-separated) is; "escapes" if a symlink leaves the repo."""
        ...
