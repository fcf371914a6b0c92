"""The config repo's address: which transport, what to show users, where its clone is cached.

Credentials never travel in the URL: an HTTPS URL carrying a user or password is refused,
so nothing secret can reach ``.git/config``, a log line or an error message through it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from reconciler.errors import PolicyError

_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:(?!//)")
_NETWORK_SCHEMES = ("https", "http", "ssh", "git", "git+ssh", "ssh+git")


@dataclass(frozen=True)
class RemoteUrl:
    """A remote as libgit2 is given it, and as users are shown it."""

    url: str
    display: str
    local_path: Path | None = None

    @property
    def is_local(self) -> bool:
        """True for local paths and ``file://`` URLs (libgit2's local transport)."""
        return self.local_path is not None

    @property
    def is_ssh(self) -> bool:
        """True for ``ssh://`` and scp-like ``user@host:path`` remotes."""
        return self.url.startswith(("ssh://", "git+ssh://", "ssh+git://")) or bool(
            _SCP_LIKE.match(self.url)
        )

    def cache_name(self) -> str:
        """A folder name for this remote's clone: readable, and unique per URL."""
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        tail = self.url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", tail.removesuffix(".git")).strip(".-")[:40]
        return f"{slug or 'repo'}-{digest}.git"


def parse_remote(text: str, cwd: Path | None = None) -> RemoteUrl:
    """Classify ``text`` (URL, scp-like address or local path); PolicyError if unusable."""
    text = text.strip()
    if not text:
        raise PolicyError("the config repo address is empty; give a URL or a local path")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "file":
        path = Path(unquote(urlsplit(text).path))
        return RemoteUrl(url=text, display=text, local_path=path)
    if scheme in ("https", "http"):
        parts = urlsplit(text)
        if parts.username is not None or parts.password is not None:
            shown = f"{parts.scheme}://{parts.hostname}{parts.path}"
            raise PolicyError(
                f"the config repo URL {shown} carries credentials; remove them and give the "
                "token through a token file or environment variable instead"
            )
        if parts.query or parts.fragment:
            raise PolicyError(
                f"the config repo URL {parts.scheme}://{parts.netloc}{parts.path} has a query "
                "or fragment; give the plain clone URL"
            )
        return RemoteUrl(url=text, display=text)
    if scheme in _NETWORK_SCHEMES:
        parts = urlsplit(text)
        if parts.password is not None:
            raise PolicyError(
                f"the config repo URL {scheme}://{parts.hostname}{parts.path} carries a "
                "password; use an SSH key instead"
            )
        return RemoteUrl(url=text, display=text)
    if scheme:
        raise PolicyError(
            f"the config repo URL scheme {scheme!r} is not supported; use https, ssh, "
            "file or a local path"
        )
    if _SCP_LIKE.match(text) and not Path(text.split(":", 1)[0]).exists():
        return RemoteUrl(url=text, display=text)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return RemoteUrl(url=str(path), display=str(path), local_path=path)
