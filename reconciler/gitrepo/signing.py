"""Commit signers (``--signing-key``, ``--signing-format``): an SSH key through
``ssh-keygen -Y sign -n git`` and an OpenPGP key through ``gpg --detach-sign --armor``,
the very commands git runs for ``gpg.format = ssh`` and ``openpgp``, so ``git
verify-commit`` and GitHub check the daemon's commits as they check anyone's.

The signer never reads the key itself: the tool does, in a process without a terminal (it
cannot prompt), given the commit's bytes in a private temporary folder. Errors name the key
file or id and say what to do; they never hold key material, and a tool's own words are
kept only when no known case matches (cut to one line).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import PolicyError, os_reason
from reconciler.gitrepo.port import CommitSigner, SigningError, SigningFormat

SSH_NAMESPACE = "git"  # what git signs commits under (gpg.format = ssh)
FORMATS: tuple[SigningFormat, ...] = ("ssh", "openpgp")
TIMEOUT = 30.0  # seconds for one signature
_PROBE = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nreconciler signing check\n"


@dataclass(frozen=True)
class SshSigner:
    """``ssh-keygen -Y sign -n git -f KEY``: KEY is a private key file without a passphrase,
    or a public key (``.pub``) whose private half ssh-agent holds (``SSH_AUTH_SOCK``)."""

    key: Path
    program: str = "ssh-keygen"
    environ: Mapping[str, str] | None = field(default=None, repr=False)  # may hold tokens

    @property
    def format(self) -> SigningFormat:
        return "ssh"

    def describe(self) -> str:
        return f"the SSH signing key {self.key}"

    def sign(self, payload: bytes) -> str:
        _readable(self.key, self.describe())
        with _folder(self.describe()) as folder:
            data = folder / "commit"
            data.write_bytes(payload)
            argv = [self.program, "-Y", "sign", "-n", SSH_NAMESPACE, "-f", str(self.key), str(data)]
            _run(argv, self.describe(), _ssh_advice, self.environ)
            signature = Path(f"{data}.sig").read_text("ascii", errors="replace")
        if not signature.startswith("-----BEGIN SSH SIGNATURE-----"):
            raise SigningError(f"{self.program} gave no SSH signature with {self.describe()}")
        return signature


@dataclass(frozen=True)
class OpenPgpSigner:
    """``gpg --detach-sign --armor --local-user KEY``: KEY is a key id, fingerprint or user
    id of a secret key in the keyring (``GNUPGHOME``), without a passphrase or unlocked in
    gpg-agent."""

    key: str
    program: str = "gpg"
    environ: Mapping[str, str] | None = field(default=None, repr=False)  # may hold tokens

    def __post_init__(self) -> None:
        if not self.key.strip() or self.key.startswith("-") or not self.key.isprintable():
            raise PolicyError(
                "--signing-key with --signing-format openpgp is a key id, fingerprint or "
                "email of a secret key in the GnuPG keyring (gpg --list-secret-keys)"
            )

    @property
    def format(self) -> SigningFormat:
        return "openpgp"

    def describe(self) -> str:
        return f"the OpenPGP signing key {self.key}"

    def sign(self, payload: bytes) -> str:
        with _folder(self.describe()) as folder:
            data = folder / "commit"
            data.write_bytes(payload)
            argv = [
                self.program, "--batch", "--no-tty", "--pinentry-mode", "error",
                "--detach-sign", "--armor", "--local-user", self.key,
                "--output", f"{data}.asc", str(data),
            ]  # fmt: skip
            _run(argv, self.describe(), _gpg_advice, self.environ)
            signature = Path(f"{data}.asc").read_text("ascii", errors="replace")
        if not signature.startswith("-----BEGIN PGP SIGNATURE-----"):
            raise SigningError(f"{self.program} gave no OpenPGP signature with {self.describe()}")
        return signature


def open_signer(
    key: str | Path | None, signing_format: str = "ssh", environ: Mapping[str, str] | None = None
) -> CommitSigner | None:
    """The signer ``--signing-key`` and ``--signing-format`` name; None without a key.

    PolicyError (one line: which key, what to do) for an unknown format or an SSH key file
    that is missing or unreadable; nothing is signed yet."""
    if key is None or str(key) == "":
        return None
    if signing_format not in FORMATS:
        raise PolicyError(f"--signing-format {signing_format!r}: choose ssh or openpgp")
    if signing_format == "openpgp":
        return OpenPgpSigner(str(key), environ=environ)
    signer = SshSigner(Path(key), environ=environ)
    try:
        _readable(signer.key, signer.describe())
    except SigningError as error:
        raise PolicyError(str(error)) from None
    return signer


def checked_signer(
    key: str | Path | None, signing_format: str = "ssh", environ: Mapping[str, str] | None = None
) -> CommitSigner | None:
    """``open_signer``, then one test signature (``probe``): what the daemon checks as it
    starts, so a key it cannot use stops it at once (PolicyError, one line) instead of
    failing each commit."""
    signer = open_signer(key, signing_format, environ)
    if signer is not None:
        try:
            probe(signer)
        except SigningError as error:
            raise PolicyError(str(error)) from None
    return signer


def probe(signer: CommitSigner) -> str:
    """Sign a throwaway commit-like text: the signature's first line when it works, else
    SigningError (what ``doctor`` and the daemon's start check)."""
    return signer.sign(_PROBE).splitlines()[0]


@contextlib.contextmanager
def _folder(what: str) -> Iterator[Path]:
    """A private temporary folder (mode 0700) for the commit's bytes and the signature."""
    try:
        with tempfile.TemporaryDirectory(prefix="reconciler-sign-") as folder:
            yield Path(folder)
    except OSError as error:
        raise SigningError(
            f"cannot sign commits with {what}: no temporary folder to write in "
            f"({os_reason(error)}); give the daemon a writable /tmp or TMPDIR"
        ) from None


def _readable(key: Path, what: str) -> None:
    try:
        with key.open("rb"):
            pass
    except OSError as error:
        raise SigningError(
            f"cannot read {what}: {os_reason(error)}; mount the key file readable by the "
            "daemon's user, or fix --signing-key (RECONCILER_SIGNING_KEY)"
        ) from None


def _run(
    argv: Sequence[str],
    what: str,
    advice: _Advice,
    environ: Mapping[str, str] | None,
) -> None:
    env = dict(os.environ if environ is None else environ)
    env["SSH_ASKPASS_REQUIRE"] = "never"  # no prompt through an askpass program either
    try:
        done = subprocess.run(  # a fixed program, arguments as a list
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=TIMEOUT,
            start_new_session=True,  # no terminal: a passphrase prompt fails at once
            check=False,
        )
    except FileNotFoundError:
        raise SigningError(
            f"cannot sign commits with {what}: {argv[0]} is not installed (Debian: apt-get "
            f"install {'gnupg' if 'gpg' in argv[0] else 'openssh-client'})"
        ) from None
    except subprocess.TimeoutExpired:
        raise SigningError(
            f"cannot sign commits with {what}: {argv[0]} did not finish within {TIMEOUT:.0f} s"
        ) from None
    except OSError as error:
        raise SigningError(
            f"cannot run {argv[0]} to sign with {what}: {os_reason(error)}"
        ) from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", errors="replace")
        raise SigningError(f"cannot sign commits with {what}: {advice(said)}")


class _Advice:
    """What to do about a tool's complaint (its stderr)."""

    def __init__(self, cases: Sequence[tuple[tuple[str, ...], str]]) -> None:
        self._cases = cases

    def __call__(self, said: str) -> str:
        lowered = said.lower()
        for words, advice in self._cases:
            if any(word in lowered for word in words):
                return advice
        lines = [line.strip() for line in said.splitlines() if line.strip()]
        first = next((line for line in lines if "@@@" not in line), "no reason given")
        return f"{first[:200]}"


_ssh_advice = _Advice(
    [
        (
            ("unprotected private key", "too open"),
            "the key file may be read by other users and ssh-keygen refuses it: chmod 600 "
            "it (a Kubernetes Secret volume: defaultMode 0400)",
        ),
        (
            ("passphrase",),
            "the key has a passphrase and nothing can type it: give a key without one (kept "
            "in a Secret), or load it into ssh-agent and give its .pub file",
        ),
        (
            ("invalid format", "couldn't load", "no private key", "libcrypto", "agent"),
            "it is not an SSH private key ssh-keygen can read, nor a public key whose private "
            "half ssh-agent (SSH_AUTH_SOCK) holds: give the private key file (as ssh-keygen "
            "-t ed25519 writes it), or ssh-add the key and give its .pub",
        ),
    ]
)

_gpg_advice = _Advice(
    [
        (
            ("no secret key", "skipped"),
            "the GnuPG keyring holds no secret key by that id: import it (gpg --import) into "
            "the keyring GNUPGHOME names, or fix --signing-key",
        ),
        (
            ("expired", "revoked", "unusable"),
            "the key is expired, revoked or cannot sign: give another key",
        ),
        (
            ("pinentry", "passphrase", "inappropriate ioctl", "operation cancelled"),
            "the key needs a passphrase and nothing can type it: give a key without one "
            "(kept in a Secret), or unlock it in gpg-agent beforehand",
        ),
    ]
)
