"""Registry credentials from a docker ``config.json``, resolved as docker resolves them.

Where: the file given as an option, else ``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``; a missing default file means anonymous access.

Which, for one registry (docker/cli's ``ConfigFile.GetAuthConfig``): the helper that
``credHelpers`` names for the registry, else the ``credsStore`` helper, else the ``auths``
entry (``auth``, base64 of ``user:password``, or ``username`` and ``password``). The
registry's key is docker's: ``https://index.docker.io/v1/`` for Docker Hub, ``host[:port]``
for any other; it is the ``credHelpers`` key looked up and what the helper is asked for
(``credhelpers.get``). When a helper is set for the registry:

- its credentials are used;
- "not found" means no credentials (anonymous): docker does not read the registry's
  ``auths`` entry then (it keeps only an e-mail there), nor does the daemon;
- a failure (not on PATH, a non-zero exit, past the timeout, not the credentials JSON, or
  an identity token, which needs an OAuth2 exchange the daemon does not make): docker
  ignores the error and uses the registry's ``auths`` entry if there is one; the daemon
  does the same and logs a WARNING naming the helper, the registry and why.

A helper's answer is kept for ``HELPER_TTL`` (a failure too, so a hanging helper costs one
timeout per period, not one per request); credentials the registry refuses are asked for
again at once (a helper's tokens expire), once per refused answer. Each
registry's source is logged when first known and when it changes. No value read here
reaches a message, a log line or a repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.errors import PolicyError
from reconciler.gitrepo.credentials import Secret
from reconciler.registry import credhelpers
from reconciler.registry.credhelpers import HelperCredentials, HelperError
from reconciler.registry.references import DOCKER_HUB

log = logging.getLogger("reconciler.registry")

# The key docker files Docker Hub's credentials under, and asks helpers for.
HUB_SERVER = "https://index.docker.io/v1/"
# Names docker itself stores Docker Hub's credentials under in ``auths``.
_HUB_KEYS = (HUB_SERVER, "index.docker.io", "registry-1.docker.io")
_HUB_HOSTS = (DOCKER_HUB, "index.docker.io")
HELPER_TTL = timedelta(minutes=5)
DEFAULT_HELPER_TIMEOUT = timedelta(seconds=30)
_NO_CONFIG = "(none)"

# (helper name, server URL) -> the helper's credentials, None for "not found"; HelperError.
AskHelper = Callable[[str, str], HelperCredentials | None]


class BasicCredentials:
    """A user name and password for one registry; the password stays a ``Secret``."""

    __slots__ = ("_password", "username")

    def __init__(self, username: str, password: str | Secret) -> None:
        self.username = username
        self._password = password if isinstance(password, Secret) else Secret(password)

    @property
    def password(self) -> Secret:
        """The password, hidden until revealed."""
        return self._password

    def header(self) -> str:
        """The ``Authorization`` header value."""
        raw = f"{self.username}:{self._password.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BasicCredentials):
            return NotImplemented
        return (self.username, self._password.reveal()) == (
            other.username,
            other._password.reveal(),
        )

    def __hash__(self) -> int:
        return hash((self.username, self._password.reveal()))

    def __repr__(self) -> str:
        return f"BasicCredentials({self.username!r}, password=***)"


@dataclass(frozen=True, repr=False)
class Resolution:
    """Where one registry's credentials come from, said for logs and ``doctor``."""

    credentials: BasicCredentials | None
    source: str  # what they came from: "docker-credential-X (credHelpers in F)", "auths in F"
    detail: str  # one sentence: the source, or why there are none
    fix: str  # what to do when the registry wants credentials and these are not them
    failed: bool = False  # a helper could not answer (logged as a WARNING)

    def __repr__(self) -> str:
        return f"Resolution({self.detail!r})"


class DockerCredentials:
    """Credentials by registry host, from one config file (or none), helpers run on demand."""

    def __init__(
        self,
        source: str = _NO_CONFIG,
        by_host: Mapping[str, BasicCredentials] | None = None,
        *,
        helpers: Mapping[str, str] | None = None,
        store: str | None = None,
        exists: bool | None = None,
        ask: AskHelper | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``source`` is the config file's path; ``by_host`` its ``auths`` by lower-case
        host; ``helpers`` its ``credHelpers``; ``store`` its ``credsStore``; ``ask`` runs a
        helper (default: ``credhelpers.get`` with this process's environment)."""
        self.source = source
        self.by_host: Mapping[str, BasicCredentials] = dict(by_host or {})
        self.helpers: Mapping[str, str] = dict(helpers or {})
        self.store = store or None
        self.exists = source != _NO_CONFIG if exists is None else exists
        self._ask = ask or partial(
            credhelpers.get, timeout=DEFAULT_HELPER_TIMEOUT.total_seconds(), environ=os.environ
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, Resolution]] = {}
        self._logged: dict[str, str] = {}
        self._refused: dict[str, BasicCredentials] = {}

    def __repr__(self) -> str:
        return (
            f"DockerCredentials({self.source}, hosts={sorted(self.by_host)}, "
            f"helpers={dict(self.helpers)}, store={self.store})"
        )

    # -- what the registry adapter asks --------------------------------------------------

    def for_host(self, host: str) -> BasicCredentials | None:
        """The credentials for ``host`` (``host[:port]``), or None (anonymous)."""
        return self.resolve(host).credentials

    def resolve(self, host: str) -> Resolution:
        """Where ``host``'s credentials come from, a helper asked if the config says so."""
        with self._lock:
            now = self._clock()
            known = self._known.get(host)
            if known is not None and now - known[0] < HELPER_TTL.total_seconds():
                return known[1]
            found = self._resolve(host)
            self._known[host] = (now, found)
            if self._logged.get(host) != found.detail:
                self._logged[host] = found.detail
                level = logging.WARNING if found.failed else logging.INFO
                log.log(level, "registry %s: %s", host, found.detail)
            return found

    def forget(self, host: str) -> None:
        """The registry refused the credentials ``host`` got: the next request asks the
        helper again (its token may have expired), once per refused answer, so a helper
        that keeps giving the same refused credentials is not run for every request. No
        credentials (none stored, a failing helper) are kept until ``HELPER_TTL`` passes."""
        with self._lock:
            known = self._known.get(host)
            used = known[1].credentials if known is not None else None
            if used is None or self._refused.get(host) == used:
                return
            self._refused[host] = used
            del self._known[host]

    # -- docker's order ----------------------------------------------------------------------

    def _resolve(self, host: str) -> Resolution:
        key = server_key(host)
        chosen = self._helper_for(key)
        if chosen is None:
            return self._from_auths(host, why="")
        name, section = chosen
        label = f"{credhelpers.program(name)} ({section} in {self.source})"
        try:
            answer = self._ask(name, key)
        except HelperError as exc:
            return self._from_auths(host, why=f"{label} failed for {key}: {exc}", helper=name)
        if answer is None:
            hidden = (
                "; its auths entry is not used while a helper is set for it, as docker does"
                if self._auths(host) is not None
                else ""
            )
            return Resolution(
                None,
                "none",
                f"no credentials (anonymous): {label} has none for {key}{hidden}",
                fix=f"run `{_login(host)}` to store them with "
                f"{credhelpers.program(name)}, or set another helper for {key} in credHelpers",
            )
        if answer.identity_token:
            why = (
                f"{label} answered an identity token for {key} (user name <token>), which "
                "the daemon cannot use: docker trades it for a registry token with OAuth2, "
                "this daemon does not"
            )
            return self._from_auths(host, why=why, helper=name)
        return Resolution(
            BasicCredentials(answer.username, answer.secret),
            label,
            f"credentials from {label}",
            fix=f"check what {credhelpers.program(name)} holds for {key} and its permissions",
        )

    def _helper_for(self, key: str) -> tuple[str, str] | None:
        helper = self.helpers.get(key)
        if helper is None:  # host names are case-insensitive
            helper = next((v for k, v in self.helpers.items() if k.lower() == key.lower()), None)
        if helper is not None:
            return helper, "credHelpers"
        if self.store is not None:
            return self.store, "credsStore"
        return None

    def _from_auths(self, host: str, *, why: str, helper: str = "") -> Resolution:
        """The ``auths`` entry: the source when no helper is set, the fallback when the
        helper failed (``why``)."""
        found = self._auths(host)
        if not why:
            if found is not None:
                return Resolution(
                    found,
                    f"auths in {self.source}",
                    f"credentials from auths in {self.source}",
                    fix=f"check the auths entry for {host} in {self.source} and its permissions",
                )
            where = (
                f"{self.source} has no entry for {host}"
                if self.exists
                else f"there is no docker config ({self.source})"
            )
            return Resolution(
                None,
                "none",
                f"no credentials (anonymous): {where}",
                fix=f"run `{_login(host)}`, or add an 'auths' or 'credHelpers' "
                f"entry for {host} to the docker config",
            )
        then = f"credentials from auths in {self.source}" if found else "no credentials (anonymous)"
        program = credhelpers.program(helper)
        return Resolution(
            found,
            f"auths in {self.source}" if found else "none",
            f"{why}; as docker does, falling back to the auths entry: {then}",
            fix=f"make {program} answer for the daemon's user "
            f"(`printf %s {server_key(host)} | {program} get` shows its error)",
            failed=True,
        )

    def _auths(self, host: str) -> BasicCredentials | None:
        found = self.by_host.get(host.lower())
        if found is None and host in _HUB_HOSTS:
            found = next((self.by_host[k] for k in _HUB_KEYS if k in self.by_host), None)
        return found

    # -- reading the file --------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        helper_timeout: timedelta = DEFAULT_HELPER_TIMEOUT,
    ) -> DockerCredentials:
        """Read the config file: ``path`` if given (it must exist), else the default place.
        Helpers run with ``environ`` (PATH included) and stop after ``helper_timeout``."""
        env = os.environ if environ is None else environ
        ask = partial(credhelpers.get, timeout=helper_timeout.total_seconds(), environ=env)
        if path is None:
            folder = env.get("DOCKER_CONFIG")
            default = (
                Path(folder) if folder else Path(env.get("HOME", "~")).expanduser() / ".docker"
            )
            path = default / "config.json"
            if not path.is_file():
                return cls(str(path), exists=False, ask=ask)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(
                f"cannot read the docker config {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        where = str(path)
        helpers, store = parse_helpers(text, where)
        return cls(where, parse_auths(text, where), helpers=helpers, store=store, ask=ask)


def server_key(host: str) -> str:
    """The key docker files ``host``'s credentials under and asks a helper for."""
    return HUB_SERVER if host in _HUB_HOSTS else host


def _login(host: str) -> str:
    return "docker login" if host in _HUB_HOSTS else f"docker login {host}"


def _document(text: str, where: str) -> dict[str, object]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(
            f"{where}:{exc.lineno}:{exc.colno}: the docker config is not valid JSON ({exc.msg})"
        ) from None
    if not isinstance(document, dict):
        raise PolicyError(f"{where}: the docker config must be a JSON object")
    return document


def parse_helpers(text: str, where: str) -> tuple[dict[str, str], str | None]:
    """The ``credHelpers`` (registry key -> helper name) and ``credsStore`` of a config."""
    document = _document(text, where)
    helpers = document.get("credHelpers", {})
    if not isinstance(helpers, dict):
        raise PolicyError(f"{where}: 'credHelpers' must be an object of registry hosts")
    for key, name in helpers.items():
        if not isinstance(name, str) or not credhelpers.valid_name(name):
            raise PolicyError(
                f"{where}: credHelpers[{key!r}] must name a helper: NAME for a program "
                "docker-credential-NAME on PATH"
            )
    store = document.get("credsStore")
    if store is not None and (
        not isinstance(store, str) or (store and not credhelpers.valid_name(store))
    ):
        raise PolicyError(
            f"{where}: 'credsStore' must name a helper: NAME for a program "
            "docker-credential-NAME on PATH"
        )
    return dict(helpers), store or None


def parse_auths(text: str, where: str) -> dict[str, BasicCredentials]:
    """The ``auths`` section of a docker config, by lower-case ``host[:port]``."""
    auths = _document(text, where).get("auths", {})
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
