"""Frozen value types shared by every part of the daemon."""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# A repository path as the OCI distribution spec allows, optionally after a registry host
# (with port). Tags and digests are not part of a repository.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?)"
_REPOSITORY = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*$")


@dataclass(frozen=True)
class Digest:
    """An immutable content digest, ``sha256:<64 hex>``."""

    value: str

    def __post_init__(self) -> None:
        if not _DIGEST.match(self.value):
            raise ValueError(f"not a sha256 digest: {self.value!r}")

    def short(self) -> str:
        """The form humans read in titles: ``sha256:abcd1234``."""
        return self.value[:15]

    def __str__(self) -> str:
        return self.value


def is_repository(text: str) -> bool:
    """True when ``text`` names an image repository with no tag and no digest."""
    return len(text) <= 255 and bool(_REPOSITORY.match(text))


# The file names kustomize looks for in an overlay folder, in its order of preference.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
