"""Throwaway signing keys for tests, and ``git verify-commit`` set up to trust them.

An SSH key made by ``ssh-keygen -t ed25519 -N ''`` and an OpenPGP key made by ``gpg
--quick-gen-key`` in a private GNUPGHOME, each in a temporary folder; ``verify`` runs the
installed git on a commit with only that key trusted (SSH: an allowed-signers file; OpenPGP:
that GNUPGHOME). Missing tools skip the test, and fail it under CI=true. ``Recording`` is a
signer without a key, for the fake and the contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reconciler.gitrepo.port import CommitSigner, SigningError, SigningFormat
from reconciler.gitrepo.signing import OpenPgpSigner, SshSigner
from tests.conftest import need

EMAIL = "reconciler@localhost"


@dataclass(frozen=True)
class TestKey:
    """A signer with its public half, and how git is told to trust it."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    signer: CommitSigner
    public: str  # the public key (SSH: its line; OpenPGP: the fingerprint)
    allowed_signers: Path | None = None
    gnupghome: Path | None = None

    def options(self) -> list[str]:
        """``--signing-key`` and ``--signing-format`` naming this key."""
        if isinstance(self.signer, SshSigner):
            return ["--signing-key", str(self.signer.key), "--signing-format", "ssh"]
        return ["--signing-key", self.public, "--signing-format", "openpgp"]

    def secrets(self) -> list[str]:
        """Lines of the private key as it lies on disk (SSH) or as gpg exports it (OpenPGP),
        which nothing the daemon shows may hold."""
        if isinstance(self.signer, SshSigner):
            text = self.signer.key.read_text()
        else:
            text = subprocess.run(
                ["gpg", "--batch", "--export-secret-keys", "--armor", self.public],
                capture_output=True, text=True, check=True, env=self.git_env(),
            ).stdout  # fmt: skip
        return [line for line in text.splitlines() if len(line) > 20 and "-----" not in line]

    def git_env(self) -> dict[str, str]:
        """The environment for git (and gpg) to verify with this key only."""
        env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self._home())}
        if self.gnupghome is not None:
            env["GNUPGHOME"] = str(self.gnupghome)
        return env

    def git_config(self) -> list[str]:
        if self.allowed_signers is None:
            return []
        return ["-c", f"gpg.ssh.allowedSignersFile={self.allowed_signers}"]

    def verify(self, repo: Path, commit: str) -> subprocess.CompletedProcess[str]:
        """``git verify-commit -v COMMIT`` in ``repo`` trusting this key alone."""
        return subprocess.run(
            ["git", *self.git_config(), "-C", str(repo), "verify-commit", "-v", commit],
            capture_output=True,
            text=True,
            env=self.git_env(),
            check=False,
        )

    def _home(self) -> Path:
        folder = self.allowed_signers or self.gnupghome
        assert folder is not None
        return folder.parent


class Recording:
    """A signer for tests without a key: signs with a made-up text and remembers what it
    signed, or always fails."""

    def __init__(self, fail: bool = False) -> None:
        self.signed: list[bytes] = []
        self.fail = fail

    @property
    def format(self) -> SigningFormat:
        return "ssh"

    def describe(self) -> str:
        return "the test key"

    def sign(self, payload: bytes) -> str:
        if self.fail:
            raise SigningError("cannot sign commits with the test key: it is broken")
        self.signed.append(payload)
        return "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"


def ssh_key(folder: Path, email: str = EMAIL) -> TestKey:
    """A fresh ed25519 key without a passphrase, and an allowed-signers file naming it."""
    need(shutil.which("ssh-keygen") is not None, "ssh-keygen (openssh-client)")
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "signing_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(key)], check=True
    )
    public = key.with_suffix(".pub").read_text().strip()
    allowed = folder / "allowed_signers"
    allowed.write_text(f'{email} namespaces="git" {public}\n')
    return TestKey(SshSigner(key), public, allowed_signers=allowed)


def openpgp_key(folder: Path, email: str = EMAIL) -> TestKey:
    """A fresh ed25519 OpenPGP key without a passphrase in its own GNUPGHOME."""
    need(shutil.which("gpg") is not None, "gpg (gnupg)")
    home = folder / "gnupg"
    home.mkdir(parents=True, mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
         f"reconciler <{email}>", "ed25519", "sign", "never"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    listed = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys", email],
        check=True, capture_output=True, text=True, env=env,
    ).stdout  # fmt: skip
    fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr"))
    return TestKey(OpenPgpSigner(fingerprint, environ=env), fingerprint, gnupghome=home)


def stop_agent(key: TestKey) -> None:
    """Stop the gpg-agent a test's GNUPGHOME started (none for SSH keys)."""
    if key.gnupghome is not None and shutil.which("gpgconf"):
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"],
            env={**os.environ, "GNUPGHOME": str(key.gnupghome)},
            check=False,
            capture_output=True,
        )
