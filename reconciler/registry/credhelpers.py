"""Docker credential helpers: ``docker-credential-NAME get``, run as docker runs it.

The protocol (docker/docker-credential-helpers, ``client.Get``): the program
``docker-credential-NAME`` is found on ``PATH`` and run with the one argument ``get``; it
reads the server URL on stdin (no newline) and prints ``{"ServerURL", "Username",
"Secret"}`` as JSON on stdout. A helper with nothing stored exits non-zero and prints
``credentials not found in native keychain``; any other non-zero exit is a failure whose
message is on stdout. A ``Username`` of ``<token>`` means the secret is an identity
token (an OAuth2 refresh token), not a password.

Unlike docker, which lets the helper write to its own stderr and waits as long as the
helper takes, the helper here gets the daemon's environment, stdin and stdout only: its
stderr is discarded unread (a helper may print anything there, secrets included), it is
killed with its whole process group once ``timeout`` has passed, and on failure at most
one short line of its stdout is quoted, never output that looks like the credentials JSON.
The secret is kept in a ``Secret`` from the moment it is parsed. This is the one module of
the registry package that starts processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.gitrepo.credentials import Secret

PREFIX = "docker-credential-"
NOT_FOUND = "credentials not found in native keychain"
TOKEN_USERNAME = "<token>"  # docker's marker for an identity token in place of a password
_MAX_QUOTED = 200


class HelperError(Exception):
    """A helper that gave no usable answer. The message names the helper and says why; it
    quotes nothing the helper printed that could be a secret."""


@dataclass(frozen=True)
class HelperCredentials:
    """What a helper answered: a user name and a secret (a password, or an identity token
    when ``username`` is ``<token>``)."""

    username: str
    secret: Secret

    @property
    def identity_token(self) -> bool:
        """Whether the secret is an identity token (docker's ``<token>`` user name)."""
        return self.username == TOKEN_USERNAME


def program(name: str) -> str:
    """The program a helper name stands for (``ecr-login`` -> ``docker-credential-ecr-login``)."""
    return PREFIX + name


def valid_name(name: str) -> bool:
    """Whether ``name`` can name a helper: a plain file-name suffix, never a path."""
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")


def get(
    name: str, server_url: str, *, timeout: float, environ: Mapping[str, str]
) -> HelperCredentials | None:
    """Ask helper ``name`` for ``server_url``'s credentials: None when it has none,
    HelperError when it cannot answer (not on PATH, fails, hangs past ``timeout`` seconds,
    answers something else than the credentials JSON)."""
    command = program(name)
    found = shutil.which(command, path=environ.get("PATH", os.defpath))
    if found is None:
        raise HelperError(f"{command} is not on PATH")
    try:
        process = subprocess.Popen(
            [found, "get"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(environ),
            start_new_session=True,  # its own process group, killed whole on timeout
        )
    except OSError as exc:
        raise HelperError(
            f"{command} ({found}) cannot be run: {exc.strerror or type(exc).__name__}"
        ) from None
    try:
        out, _ = process.communicate(server_url.encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise HelperError(f"{command} did not answer within {timeout:g}s and was stopped") from None
    if process.returncode != 0:
        said = out.decode("utf-8", "replace").strip()
        if said == NOT_FOUND:
            return None
        raise HelperError(f"{command} get {_failure(process.returncode, said)}")
    return _parse(out, command)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Stop the helper and whatever it started; reap it without reading its pipes again
    (a process that escaped the group could hold them open)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def _failure(code: int, said: str) -> str:
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    line = said.splitlines()[0].strip() if said else ""
    if not line or "{" in said or "secret" in said.lower():
        return how  # nothing said, or it may be the credentials: not quoted
    line = "".join(c for c in line if c.isprintable())
    if len(line) > _MAX_QUOTED:
        line = line[:_MAX_QUOTED] + "..."
    return f"{how}: {line}"


def _parse(out: bytes, command: str) -> HelperCredentials:
    try:
        document = json.loads(out)
    except ValueError:
        raise HelperError(f"{command} get answered something that is not JSON") from None
    username = document.get("Username") if isinstance(document, dict) else None
    secret = document.get("Secret") if isinstance(document, dict) else None
    if not isinstance(username, str) or not isinstance(secret, str):
        raise HelperError(
            f"{command} get answered JSON without the string fields Username and Secret"
        )
    return HelperCredentials(username, Secret(secret))
