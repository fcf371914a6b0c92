"""GitHub App authentication: installation tokens minted from the App's private key.

The App signs a short JWT (RS256, ``iss`` = app id) with its private key and trades it for an
installation token (``ghs_...``, one hour) at ``POST /app/installations/{id}/access_tokens``.
``InstallationTokens`` keeps the current token and mints the next one ``margin`` before it
expires, so a request never leaves with a token about to lapse. The same token serves the
REST API and git over HTTPS (user ``x-access-token``).

PyGithub stays in ``reconciler.forge.github.client``: the HTTP call comes in as an
``AccessTokens`` callable (``client.AppTokenEndpoint``). The key is read from its file at
each mint (a rotated key is picked up); neither it, the JWT nor a token appears in a repr
or a message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import jwt

from reconciler.clock import utc_now
from reconciler.errors import PermanentError, PolicyError, TransientError
from reconciler.gitrepo.credentials import Secret

REFRESH_MARGIN = timedelta(minutes=5)
# GitHub refuses a JWT living more than ten minutes; backdating covers a host clock running
# a little ahead of GitHub's (their documented advice).
JWT_BACKDATE = timedelta(seconds=60)
JWT_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class AppCredentials:
    """Which App, where its private key file is, and which installation acts."""

    app_id: int
    private_key_file: Path
    installation_id: int

    def __post_init__(self) -> None:
        if self.app_id <= 0:
            raise PolicyError(f"GitHub App id {self.app_id} is not valid: give the App's number")
        if self.installation_id <= 0:
            raise PolicyError(
                f"installation id {self.installation_id} of GitHub App {self.app_id} is not "
                "valid: give the number at the end of the installation's settings URL"
            )

    def describe(self) -> str:
        """Which App and installation, for messages."""
        return f"GitHub App {self.app_id} (installation {self.installation_id})"


class AccessTokens(Protocol):
    """``POST /app/installations/{id}/access_tokens`` with the App's JWT as bearer."""

    @property
    def base_url(self) -> str:
        """The API root, for messages."""
        ...

    def __call__(self, app_jwt: Secret, installation_id: int) -> tuple[int, Mapping[str, Any]]:
        """GitHub's status and JSON body; OSError when GitHub does not answer."""
        ...


def read_private_key(credentials: AppCredentials) -> Secret:
    """The App's private key (PEM) from its file; PermanentError naming the file if unreadable."""
    path = credentials.private_key_file
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not a text file"
        raise PermanentError(
            f"cannot read the private key file {path} of GitHub App {credentials.app_id}: "
            f"{reason or error}; check that the file is mounted and readable"
        ) from None
    return Secret(text)


def app_jwt(credentials: AppCredentials, private_key: Secret, now: datetime) -> Secret:
    """The App's JWT for ``now``; PolicyError if the key is not an RSA private key."""
    claims = {
        "iat": int((now - JWT_BACKDATE).timestamp()),
        "exp": int((now - JWT_BACKDATE + JWT_LIFETIME).timestamp()),
        "iss": str(credentials.app_id),
    }
    try:
        return Secret(jwt.encode(claims, private_key.reveal(), algorithm="RS256"))
    except (ValueError, TypeError, AttributeError, jwt.PyJWTError):
        # The library's message may quote the key: none of it is kept.
        raise PolicyError(
            f"the private key file {credentials.private_key_file} of GitHub App "
            f"{credentials.app_id} does not hold an unencrypted RSA private key in PEM format; "
            "generate a new private key in the App's settings and mount that file"
        ) from None


class InstallationTokens:
    """The installation's current token, minted again ``margin`` before it expires.

    ``clock`` decides when the held token is due; ``signing_clock`` dates the JWT, which
    GitHub checks against its own clock. Both are the host's clock outside tests.
    """

    def __init__(
        self,
        credentials: AppCredentials,
        access_tokens: AccessTokens,
        *,
        clock: Callable[[], datetime] = utc_now,
        signing_clock: Callable[[], datetime] = utc_now,
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self.credentials = credentials
        self._access_tokens = access_tokens
        self._clock = clock
        self._signing_clock = signing_clock
        self._margin = margin
        self._lock = threading.Lock()
        self._held: tuple[Secret, datetime] | None = None

    def __repr__(self) -> str:
        return f"InstallationTokens({self.credentials.describe()})"

    def installation_token(self) -> str:
        """A token good for at least ``margin`` more; mints one (one caller at a time) if not."""
        with self._lock:
            held = self._held
            if held is None or self._clock() >= held[1] - self._margin:
                held = self._held = self._mint()
            return held[0].reveal()

    def _mint(self) -> tuple[Secret, datetime]:
        creds = self.credentials
        signed = app_jwt(creds, read_private_key(creds), self._signing_clock())
        where = self._access_tokens.base_url
        try:
            status, body = self._access_tokens(signed, creds.installation_id)
        except OSError as failed:
            raise TransientError(
                f"could not get an installation token for {creds.describe()}: no answer from "
                f"GitHub at {where} ({type(failed).__name__}); it will be tried again next cycle"
            ) from None
        said = _message(body)
        if status == 201:
            return _minted(creds, body)
        if status == 401:
            raise PermanentError(
                f"GitHub at {where} rejected the JWT of GitHub App {creds.app_id} ({said}): "
                f"check that {creds.private_key_file} is a current private key of App "
                f"{creds.app_id} (App settings, Private keys) and that this host's clock is right"
            )
        if status == 404:
            raise PermanentError(
                f"GitHub App {creds.app_id} has no installation {creds.installation_id} at "
                f"{where} ({said}): check the installation id (the number at the end of the "
                "installation's settings URL) and that the App is installed on the repository"
            )
        if status == 429 or status >= 500:
            raise TransientError(
                f"could not get an installation token for {creds.describe()}: GitHub answered "
                f"{status} ({said}); it will be tried again next cycle"
            )
        raise PermanentError(
            f"GitHub refused an installation token for {creds.describe()}: it answered "
            f"{status} ({said}); check that the installation is active and grants the App's "
            "permissions"
        )


def _minted(credentials: AppCredentials, body: Mapping[str, Any]) -> tuple[Secret, datetime]:
    token, expires = body.get("token"), body.get("expires_at")
    try:
        if not isinstance(token, str) or not token or not isinstance(expires, str):
            raise ValueError
        expires_at = datetime.fromisoformat(expires)
        if expires_at.tzinfo is None:
            raise ValueError
    except ValueError:
        raise PermanentError(
            f"GitHub's answer for an installation token of {credentials.describe()} has no "
            "token or no valid expires_at; is the API URL that of GitHub?"
        ) from None
    return Secret(token), expires_at


def _message(body: Mapping[str, Any]) -> str:
    said = body.get("message")
    return str(said)[:200] if said else "no message"
