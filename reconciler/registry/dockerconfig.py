"""Registry credentials from a docker ``config.json`` (``auths``), as ``docker login`` writes.

Where: the file given as an option, else ``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``; a missing default file means anonymous access. An entry holds
``auth`` (base64 of ``user:password``) or ``username`` and ``password``. Credential helpers
(``credsStore``, ``credHelpers``) are not run. No value read here reaches a message or repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.errors import PolicyError
from reconciler.registry.references import DOCKER_HUB

# Names docker itself stores Docker Hub's credentials under.
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True, repr=False)
class BasicCredentials:
    """A user name and password for one registry."""

    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        """The ``Authorization`` header value."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        return f"BasicCredentials({self.username!r}, password=***)"


@dataclass(frozen=True, repr=False)
class DockerCredentials:
    """Credentials by registry host, read from one config file (or none)."""

    source: str = "(none)"
    by_host: Mapping[str, BasicCredentials] = field(default_factory=dict)

    def for_host(self, host: str) -> BasicCredentials | None:
        """The credentials stored for ``host`` (``host:port``), or None."""
        found = self.by_host.get(host.lower())
        if found is None and host == DOCKER_HUB:
            found = next((self.by_host[k] for k in _HUB_KEYS if k in self.by_host), None)
        return found

    def __repr__(self) -> str:
        return f"DockerCredentials({self.source}, hosts={sorted(self.by_host)})"

    @classmethod
    def load(
        cls, path: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> DockerCredentials:
        """Read the config file: ``path`` if given (it must exist), else the default place."""
        env = os.environ if environ is None else environ
        if path is None:
            folder = env.get("DOCKER_CONFIG")
            default = (
                Path(folder) if folder else Path(env.get("HOME", "~")).expanduser() / ".docker"
            )
            path = default / "config.json"
            if not path.is_file():
                return cls()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(
                f"cannot read the docker config {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        return cls(str(path), parse_auths(text, str(path)))


def parse_auths(text: str, where: str) -> dict[str, BasicCredentials]:
    """The ``auths`` section of a docker config, by lower-case ``host[:port]``."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(
            f"{where}:{exc.lineno}:{exc.colno}: the docker config is not valid JSON ({exc.msg})"
        ) from None
    auths = document.get("auths", {}) if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        raise PolicyError(f"{where}: 'auths' must be an object of registry hosts")
    found: dict[str, BasicCredentials] = {}
    for key, entry in auths.items():
        credentials = _entry(entry, f"{where}: auths[{key!r}]")
        if credentials is not None:
            found[_host_of(key)] = credentials
    return found


def _entry(entry: object, where: str) -> BasicCredentials | None:
    if not isinstance(entry, dict):
        raise PolicyError(f"{where} must be an object")
    auth, username, password = entry.get("auth"), entry.get("username"), entry.get("password")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise PolicyError(f"{where}.auth is not base64 of 'user:password'") from None
        user, colon, secret = decoded.partition(":")
        if not colon or not user:
            raise PolicyError(f"{where}.auth is not base64 of 'user:password'")
        return BasicCredentials(user, secret)
    if isinstance(username, str) and username and isinstance(password, str):
        return BasicCredentials(username, password)
    return None  # e.g. only an identity token, or credentials kept by a helper


def _host_of(key: str) -> str:
    if key in _HUB_KEYS:
        return key
    # docker accepts "https://host:port/v1/" as well as a bare "host:port"
    netloc = urlsplit(key).netloc if "://" in key else key.split("/", maxsplit=1)[0]
    return netloc.lower()
