"""Image references and digests: the one grammar every part of the daemon parses them with.

References follow the distribution reference grammar (github.com/distribution/reference):
``[domain[:port]/]path[:tag][@digest]``. The first component is the registry's domain only
when a ``/`` follows it and it contains ``.`` or ``:`` (a host name, an IP address, a port,
an IPv6 literal in brackets), is ``localhost``, or has upper-case letters (a path never
may). Anything else is on Docker Hub, ``docker.io`` (``index.docker.io`` is its old name),
where a one-component path is an official image under ``library/``: ``nginx``,
``docker.io/nginx`` and ``index.docker.io/library/nginx`` are all
``docker.io/library/nginx``. Names are compared in that normalised form only.

Digests follow the OCI image spec (descriptor.md, "Digests"): ``algorithm:encoded``. The
daemon accepts the algorithms it can verify, sha256 (64 lower-case hex digits) and sha512
(128); any other, registered (blake3) or not, is refused, saying which forms are accepted.

Pure: text in, values or a PolicyError out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from reconciler.errors import PolicyError

DOCKER_HUB = "docker.io"
_LEGACY_DOCKER_HUB = "index.docker.io"
_OFFICIAL = "library/"
MAX_PATH = 255  # distribution/reference's RepositoryNameTotalLengthMax, on the path

# The grammar's productions (distribution/reference, regexp.go and the grammar in reference.go).
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_COMPONENT = re.compile(rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
# The OCI image spec's digest grammar, and the encoded form of each algorithm accepted.
_DIGEST = re.compile(r"(?P<algorithm>[a-z0-9]+(?:[+._-][a-z0-9]+)*):(?P<encoded>[a-zA-Z0-9=_-]+)")
ALGORITHMS = {"sha256": 64, "sha512": 128}
_LOWER_HEX = re.compile(r"[a-f0-9]+")
_HEX = re.compile(r"[a-fA-F0-9]+")
DIGEST_FORMS = "sha256:<64 lower-case hex digits> or sha512:<128 lower-case hex digits>"
_FORMS = "write [HOST[:PORT]/]PATH[:TAG][@DIGEST], such as registry.example.com/team/app:v1"


@dataclass(frozen=True)
class ImageName:
    """A parsed, normalised image reference: registry ``host`` (with port), repository
    ``path`` in that registry (``library/`` added on Docker Hub), and the ``tag`` and
    ``digest`` when the reference has them."""

    host: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``host/path``: the repository in its normalised form, the one names compare in."""
        return f"{self.host}/{self.path}"

    def __str__(self) -> str:
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_image(text: str) -> ImageName:
    """Parse ``[host/]path[:tag][@digest]`` into its normalised form; a PolicyError says
    what is wrong and how to write it."""
    return _parse(text)[1]


def parse_repository(text: str) -> ImageName:
    """Parse ``[host/]path`` with no tag and no digest (a repository, as ports take it)."""
    name = parse_image(text)
    if name.tag is not None or name.digest is not None:
        written = split_reference(text)[0]
        raise PolicyError(
            f"{text!r} names an image, not a repository: give {written!r} without the tag or digest"
        )
    return name


def split_reference(text: str) -> tuple[str, str, str]:
    """``(name, tag, digest)`` of a reference as written ("" where absent), once the whole
    reference is checked: what an overlay keeps, since a file is never rewritten into the
    normalised form."""
    written, name = _parse(text)
    return written, name.tag or "", name.digest or ""


@lru_cache(maxsize=8192)  # names are compared often (every entry of a shared overlay)
def repository_of(text: str) -> str | None:
    """The normalised repository of a reference (its tag and digest dropped); None when
    ``text`` is not a reference at all, which then equals no repository."""
    try:
        return parse_image(text).repository
    except PolicyError:
        return None


def same_repository(one: str, other: str) -> bool:
    """Whether two references name one repository (``nginx`` and
    ``docker.io/library/nginx:1.27`` do); a text that is no reference matches nothing."""
    mine = repository_of(one)
    return mine is not None and mine == repository_of(other)


def check_tag(tag: str, *, where: str = "the tag") -> str:
    """``tag`` if the grammar allows it; else a PolicyError naming ``where``."""
    if not _TAG.fullmatch(tag):
        raise PolicyError(
            f"{where}: tag {tag!r} is not valid: a tag is 1 to 128 letters, digits, "
            "'_', '.' and '-', and does not start with '.' or '-'"
        )
    return tag


def digest_problem(digest: str) -> str | None:
    """Why ``digest`` is not a digest the daemon accepts (a phrase); None when it is one."""
    found = _DIGEST.fullmatch(digest)
    if found is None:
        return "it is not ALGORITHM:ENCODED"
    algorithm, encoded = found["algorithm"], found["encoded"]
    length = ALGORITHMS.get(algorithm)
    if length is None:
        return f"the algorithm {algorithm!r} is not accepted"
    if len(encoded) != length or not _LOWER_HEX.fullmatch(encoded):
        return f"{algorithm} takes {length} lower-case hex digits, not {_describe(encoded)}"
    return None


def check_digest(digest: str, *, where: str = "the digest") -> str:
    """``digest`` if it is one of the accepted forms; else a PolicyError naming ``where``."""
    problem = digest_problem(digest)
    if problem is not None:
        raise PolicyError(f"{where}: invalid digest {digest!r}: {problem}; write {DIGEST_FORMS}")
    return digest


def is_digest(text: str) -> bool:
    """Whether ``text`` is a digest of an accepted form."""
    return digest_problem(text) is None


def _describe(encoded: str) -> str:
    if not _HEX.fullmatch(encoded):
        return f"{len(encoded)} characters, not all hex digits"
    if not _LOWER_HEX.fullmatch(encoded):
        return f"{len(encoded)} with upper-case ones"
    return str(len(encoded))


def _parse(text: str) -> tuple[str, ImageName]:
    """The name as written, and the normalised reference."""
    if not text:
        raise PolicyError(f"the image reference is empty: {_FORMS}")
    # In ASCII, every space but " " is unprintable, so two C calls decide most references.
    plain = text.isascii() and text.isprintable() and " " not in text
    if not plain and any(c.isspace() or not c.isprintable() for c in text):
        raise PolicyError(f"image reference {text!r} contains spaces or control characters")
    if _IDENTIFIER.fullmatch(text):
        raise PolicyError(
            f"{text!r} is an image ID (64 hex digits), not a reference: name the repository, "
            "such as registry.example.com/team/app@sha256:..."
        )
    rest, at, digest = text.partition("@")
    if at:
        check_digest(digest, where=f"image reference {text!r}")
    slash, colon = rest.rfind("/"), rest.rfind(":")
    tag: str | None = None
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        check_tag(tag, where=f"image reference {text!r}")
    if not rest:
        raise PolicyError(f"image reference {text!r} has no repository name: {_FORMS}")
    host, path = _split_domain(rest, text)
    return rest, ImageName(host, path, tag, digest if at else None)


def _split_domain(name: str, text: str) -> tuple[str, str]:
    first, slash, remainder = name.partition("/")
    if slash and (first == "localhost" or "." in first or ":" in first or first.lower() != first):
        if not _HOST.fullmatch(first):
            raise PolicyError(
                f"image reference {text!r}: {first!r} is not a valid registry host[:port]"
            )
        host, path = (DOCKER_HUB if first == _LEGACY_DOCKER_HUB else first), remainder
    else:
        host, path = DOCKER_HUB, name
    if not path:
        raise PolicyError(f"image reference {text!r} has no repository path: {_FORMS}")
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise PolicyError(f"image reference {text!r}: {_component_problem(component)}")
    if host == DOCKER_HUB and "/" not in path:
        path = _OFFICIAL + path  # an official image: nginx is docker.io/library/nginx
    if len(path) > MAX_PATH:
        raise PolicyError(
            f"image reference {text!r}: the repository path is longer than {MAX_PATH} characters"
        )
    return host, path


def _component_problem(component: str) -> str:
    if not component:
        return "the repository path has an empty component (two '/' in a row, or one at the end)"
    if component.lower() != component and _COMPONENT.fullmatch(component.lower()):
        return f"repository path component {component!r} must be lower case"
    return (
        f"repository path component {component!r} is not valid: use lower-case letters and "
        "digits, separated by '.', '_', '__' or dashes"
    )
