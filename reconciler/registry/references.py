"""Image references (``host[:port]/path[:tag][@sha256:...]``) parsed and checked.

Pure: text in, values or a PolicyError out. The grammar is the OCI distribution spec's
(lower-case path components joined by ``.``, ``_``, ``__`` or dashes; tags of up to 128
word characters, dots and dashes) with Docker's rule for the host: the first component
is a registry host only when it has a dot or a port, is ``localhost`` or an IPv6 literal;
otherwise the image is on Docker Hub (``nginx`` is ``docker.io/library/nginx``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.errors import PolicyError

DOCKER_HUB = "docker.io"
_MAX_NAME = 255
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
_ECR_HOST = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
)
_FORMS = "write HOST/PATH:TAG or HOST/PATH@sha256:<64 hex digits>"


@dataclass(frozen=True)
class ImageName:
    """A parsed image reference: registry ``host`` (with port), repository ``path`` in
    that registry, and the ``tag`` and ``digest`` when the reference has them."""

    host: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``host/path``: the repository, as a policy's ``image`` names it."""
        return f"{self.host}/{self.path}"

    def __str__(self) -> str:
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class EcrHost:
    """What an ECR registry host (``<account>.dkr.ecr.<region>.amazonaws.com``) says."""

    account: str
    region: str


def parse_image(text: str) -> ImageName:
    """Parse ``[host/]path[:tag][@digest]``; a PolicyError says what is wrong and how to fix it."""
    if not text:
        raise PolicyError(f"the image reference is empty: {_FORMS}")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise PolicyError(f"image reference {text!r} contains spaces or control characters")
    rest, at, digest = text.partition("@")
    if at:
        check_digest(digest, where=f"image reference {text!r}")
    slash, colon = rest.rfind("/"), rest.rfind(":")
    tag: str | None = None
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        check_tag(tag, where=f"image reference {text!r}")
    name = _split_name(rest, text)
    return ImageName(name.host, name.path, tag, digest if at else None)


def parse_repository(text: str) -> ImageName:
    """Parse ``[host/]path`` with no tag and no digest (a repository, as ports take it)."""
    name = parse_image(text)
    if name.tag is not None or name.digest is not None:
        raise PolicyError(
            f"{text!r} names an image, not a repository: "
            f"give {name.repository!r} without the tag or digest"
        )
    return name


def check_tag(tag: str, *, where: str = "the tag") -> str:
    """``tag`` if the distribution spec allows it; else a PolicyError naming ``where``."""
    if not _TAG.fullmatch(tag):
        raise PolicyError(
            f"{where}: tag {tag!r} is not valid: a tag is 1 to 128 letters, digits, "
            "'_', '.' and '-', and does not start with '.' or '-'"
        )
    return tag


def check_digest(digest: str, *, where: str = "the digest") -> str:
    """``digest`` if it is ``sha256:`` and 64 lower-case hex digits; else a PolicyError."""
    if not _DIGEST.fullmatch(digest):
        raise PolicyError(
            f"{where}: digest {digest!r} is not valid: write sha256: followed by "
            "64 lower-case hex digits"
        )
    return digest


def ecr_host(host: str) -> EcrHost | None:
    """Account and region of an ECR registry host; None for any other host."""
    found = _ECR_HOST.fullmatch(host)
    return EcrHost(found["account"], found["region"]) if found else None


def _split_name(rest: str, text: str) -> ImageName:
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first[:1] == "["):
        if not _HOST.fullmatch(first):
            raise PolicyError(
                f"image reference {text!r}: {first!r} is not a valid registry host[:port]"
            )
        host, path = first, remainder
    else:
        host, path = DOCKER_HUB, rest if slash else f"library/{rest}"
    if not path:
        raise PolicyError(f"image reference {text!r} has no repository path: {_FORMS}")
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise PolicyError(f"image reference {text!r}: {_component_problem(component)}")
    if len(host) + 1 + len(path) > _MAX_NAME:
        raise PolicyError(
            f"image reference {text!r}: the repository name is longer than {_MAX_NAME} characters"
        )
    return ImageName(host, path)


def _component_problem(component: str) -> str:
    if not component:
        return "the repository path has an empty component (two '/' in a row, or one at the end)"
    if component.lower() != component and _COMPONENT.fullmatch(component.lower()):
        return f"repository path component {component!r} must be lower case"
    return (
        f"repository path component {component!r} is not valid: use lower-case letters and "
        "digits, separated by '.', '_', '__' or dashes"
    )
