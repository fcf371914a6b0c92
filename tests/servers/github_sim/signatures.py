"""Commit signature verification, as GitHub shows it: "verified" or not.

GitHub marks a commit verified when its signature checks out against a key on the account of
the committer's (verified) email, and anything else (unsigned, a key no account registered,
another account's key, a bad signature) unverified; required signatures refuse unverified
commits as well as unsigned ones
(https://docs.github.com/en/authentication/managing-commit-signature-verification/about-commit-signature-verification).
Kept simple here:

- SSH signatures: ``ssh-keygen -Y verify -n git`` against the SSH signing keys registered
  for the account whose email is the committer's, that email as the principal;
- OpenPGP signatures: ``gpg --verify`` in the simulator's own keyring (the registered public
  keys imported), the signing key's or its primary key's fingerprint one the account
  registered;
- commits the simulator wrote itself (merges through the API) are GitHub's own, signed with
  its web-flow key, so verified.

Commits are read with ``git cat-file`` (not pygit2), so a pre-receive hook running in git's
quarantine sees the objects being pushed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class SigningKey:
    """A signing key an account registered: an SSH public key line, or an OpenPGP fingerprint."""

    kind: Literal["ssh", "openpgp"]
    public: str


@dataclass
class Keyring:
    """The registered signing keys, by account email (lower-cased), and the OpenPGP keyring."""

    by_email: dict[str, list[SigningKey]] = field(default_factory=dict)
    gnupghome: Path | None = None

    def add_ssh(self, email: str, public: str) -> None:
        self.by_email.setdefault(email.lower(), []).append(SigningKey("ssh", public.strip()))

    def add_openpgp(self, email: str, fingerprint: str, armored: bytes, home: Path) -> None:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.gnupghome = home
        # Public keys only: no gpg-agent is started (none is left running). gpg still asks
        # for one after importing and exits 2 when there is none, or when its socket path
        # in ``home`` is too long for a Unix socket (a deep pytest-xdist tmp_path), so the
        # import is proven by listing the key instead.
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--no-autostart", "--import"],
            input=armored, capture_output=True, check=False,
        )  # fmt: skip
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--no-autostart", "--list-keys",
             fingerprint],
            capture_output=True, check=True,
        )  # fmt: skip
        self.by_email.setdefault(email.lower(), []).append(
            SigningKey("openpgp", fingerprint.upper())
        )


@dataclass(frozen=True)
class RawCommit:
    """A commit object's text split as git verifies it: the signed payload and its signature."""

    payload: bytes
    signature: bytes | None
    committer_email: str


def read_commit(git_dir: Path, sha: str, env: Mapping[str, str] | None = None) -> RawCommit:
    """``sha`` as ``git cat-file commit`` prints it, its ``gpgsig`` header taken out."""
    raw = subprocess.run(
        ["git", "cat-file", "commit", sha],
        capture_output=True, check=True,
        env={**(os.environ if env is None else env), "GIT_DIR": str(git_dir)},
    ).stdout  # fmt: skip
    head, _, message = raw.partition(b"\n\n")
    kept: list[bytes] = []
    signature: list[bytes] = []
    in_signature = False
    email = ""
    for line in head.split(b"\n"):
        if line.startswith(b"gpgsig "):
            in_signature = True
            signature.append(line[len(b"gpgsig ") :])
            continue
        if in_signature and line.startswith(b" "):
            signature.append(line[1:])
            continue
        in_signature = False
        kept.append(line)
        if line.startswith(b"committer "):
            email = line.split(b"<", 1)[-1].split(b">", 1)[0].decode("utf-8", "replace")
    payload = b"\n".join(kept) + b"\n\n" + message
    text = b"\n".join(signature) + b"\n" if signature else None
    return RawCommit(payload, text, email)


def rev_list(git_dir: Path, head: str, excluded: Sequence[str]) -> list[str]:
    """``git rev-list HEAD EXCLUDED...``: the commits ``head`` brings (git's own walk, so a
    pre-receive hook sees quarantined objects)."""
    listed = subprocess.run(
        ["git", "rev-list", head, *excluded],
        capture_output=True, text=True, check=True, env={**os.environ, "GIT_DIR": str(git_dir)},
    ).stdout  # fmt: skip
    return listed.split()


def verified(commit: RawCommit, keys: Keyring) -> bool:
    """True when ``commit``'s signature verifies against a key of its committer's account."""
    if commit.signature is None:
        return False
    registered = keys.by_email.get(commit.committer_email.lower(), [])
    if commit.signature.startswith(b"-----BEGIN SSH SIGNATURE-----"):
        ssh = [k.public for k in registered if k.kind == "ssh"]
        return bool(ssh) and _ssh_verifies(commit, ssh)
    if commit.signature.startswith(b"-----BEGIN PGP SIGNATURE-----"):
        fingerprints = {k.public for k in registered if k.kind == "openpgp"}
        return (
            bool(fingerprints)
            and keys.gnupghome is not None
            and (_openpgp_signer(commit, keys.gnupghome) & fingerprints != set())
        )
    return False


def _ssh_verifies(commit: RawCommit, public_keys: Sequence[str]) -> bool:
    assert commit.signature is not None
    with tempfile.TemporaryDirectory(prefix="sim-verify-") as folder:
        allowed = Path(folder) / "allowed_signers"
        email = commit.committer_email
        allowed.write_text("".join(f'{email} namespaces="git" {key}\n' for key in public_keys))
        signature = Path(folder) / "sig"
        signature.write_bytes(commit.signature)
        done = subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", email, "-n", "git",
             "-s", str(signature)],
            input=commit.payload, capture_output=True, check=False,
        )  # fmt: skip
    return done.returncode == 0


def _openpgp_signer(commit: RawCommit, home: Path) -> set[str]:
    """The fingerprints (signing key, primary key) of a good signature; empty if none."""
    assert commit.signature is not None
    with tempfile.TemporaryDirectory(prefix="sim-verify-") as folder:
        signature = Path(folder) / "sig.asc"
        signature.write_bytes(commit.signature)
        payload = Path(folder) / "payload"
        payload.write_bytes(commit.payload)
        done = subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--status-fd", "1", "--verify",
             str(signature), str(payload)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    for line in done.stdout.splitlines():
        parts = line.split()
        if done.returncode == 0 and parts[:2] == ["[GNUPG:]", "VALIDSIG"]:
            return {parts[2].upper(), parts[-1].upper()}
    return set()
