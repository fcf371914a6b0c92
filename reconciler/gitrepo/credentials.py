"""How the git adapter authenticates: descriptions of where secrets live, never the secrets.

A credential description names a file or an environment variable; the value is read at each
connection (so a rotated token file is picked up) into a ``Secret``, whose repr and str hide
it. Error messages name the description ("the token in file /run/secrets/git"), never the
value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import PermanentError, PolicyError


class Secret:
    """A secret string that does not show itself: repr and str print ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value, for the one call that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class HttpsToken:
    """An HTTPS token (password of Basic auth) from a file or an environment variable."""

    file: Path | None = None
    env: str | None = None
    username: str = "x-access-token"

    def __post_init__(self) -> None:
        if (self.file is None) == (self.env is None):
            raise PolicyError("an HTTPS token comes from exactly one of a file or a variable")

    def describe(self) -> str:
        """Where the token comes from, for messages."""
        if self.file is not None:
            return f"the token in file {self.file}"
        return f"the token in environment variable {self.env}"


@dataclass(frozen=True)
class SshKey:
    """An SSH private key file (public key beside it as ``.pub`` unless given)."""

    private_key: Path
    public_key: Path | None = None
    passphrase_file: Path | None = None
    username: str = "git"

    def describe(self) -> str:
        """Which key, for messages."""
        if self.passphrase_file is not None:
            return f"the SSH key {self.private_key} (passphrase in {self.passphrase_file})"
        return f"the SSH key {self.private_key}"


@dataclass(frozen=True)
class SshAgent:
    """Keys held by the running ssh-agent (``SSH_AUTH_SOCK``)."""

    username: str = "git"

    def describe(self) -> str:
        """Where the keys are, for messages."""
        return "the keys in ssh-agent (SSH_AUTH_SOCK)"


@dataclass(frozen=True)
class HttpsTokenSource:
    """An HTTPS token asked of a callable at each connection (a GitHub App's tokens)."""

    read: Callable[[], str] = field(repr=False, compare=False)
    description: str = "the GitHub App's installation token"
    username: str = "x-access-token"

    def describe(self) -> str:
        """Where the token comes from, for messages."""
        return self.description


Credentials = HttpsToken | HttpsTokenSource | SshKey | SshAgent


def read_token(token: HttpsToken | HttpsTokenSource, environ: Mapping[str, str]) -> Secret:
    """The token's current value; PermanentError naming its source if absent or empty."""
    if isinstance(token, HttpsTokenSource):
        value = token.read().strip()
    elif token.file is not None:
        try:
            value = token.file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise PermanentError(
                f"cannot read {token.describe()}: {error.strerror or error}; "
                "check that the file is mounted and readable"
            ) from None
    else:
        value = environ.get(token.env or "", "").strip()
    if not value:
        raise PermanentError(f"{token.describe()} is empty or unset; provide the git token")
    return Secret(value)


def read_passphrase(key: SshKey) -> Secret | None:
    """The key's passphrase from its file, or None when the key has none."""
    if key.passphrase_file is None:
        return None
    try:
        return Secret(key.passphrase_file.read_text(encoding="utf-8").rstrip("\n"))
    except OSError as error:
        raise PermanentError(
            f"cannot read the passphrase file {key.passphrase_file} of {key.describe()}: "
            f"{error.strerror or error}"
        ) from None
