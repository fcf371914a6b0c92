"""The pygit2 adapter over SSH: a real OpenSSH server on loopback, keys, host key checks.

Needs ``/usr/sbin/sshd`` (Debian package openssh-server): skipped where it is missing,
except in CI, where a missing server fails the run.
The server runs as the current user with its own config, host key and authorized keys.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import TransientError
from reconciler.gitrepo.credentials import SshKey
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from tests.conftest import need
from tests.contract.gitworld import GitWorld
from tests.contract.races import BOT
from tests.ports import free_port

SSHD = Path("/usr/sbin/sshd")
PASSPHRASE = "correct horse battery"
PROD = "overlays/prod/app/kustomization.yaml"


@pytest.fixture(autouse=True)
def _sshd_installed() -> None:
    need(
        SSHD.exists() and shutil.which("ssh-keygen") is not None,
        "the OpenSSH server (apt-get install openssh-server)",
    )


@dataclass(frozen=True)
class SshServer:
    """A running sshd: its port, the user to log in as, and the keys tests use."""

    port: int
    user: str
    host_key_line: str
    keys: Path


def keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "test", "-f", str(path)],
        check=True,
    )


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
        # sshd running as root insists on its privilege-separation directory, which the
        # service manager would create; nothing else is put there.
        Path("/run/sshd").mkdir(mode=0o755)
    root = tmp_path_factory.mktemp("sshd")
    keys = root / "keys"
    keys.mkdir()
    keygen(root / "host_key")
    keygen(keys / "plain")
    keygen(keys / "protected", PASSPHRASE)
    keygen(keys / "stranger")
    authorized = root / "authorized_keys"
    authorized.write_text((keys / "plain.pub").read_text() + (keys / "protected.pub").read_text())
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {authorized}\nStrictModes no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel INFO\n"
    )
    server = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        for line in server.stderr:  # wait until it says it listens, or exits
            if "Server listening" in line:
                break
        else:
            pytest.fail(f"sshd did not start (exit {server.wait()})")
        host_key = (root / "host_key.pub").read_text().split()[:2]
        yield SshServer(port, getpass.getuser(), f"[127.0.0.1]:{port} {' '.join(host_key)}", keys)
    finally:
        with server:  # on leaving: its stderr pipe closed, then waited for
            server.terminate()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """libgit2's home folder (where it reads ~/.ssh/known_hosts), for this test only."""
    before = pygit2.settings.homedir
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True)
    pygit2.settings.homedir = str(folder)
    try:
        yield folder
    finally:
        pygit2.settings.homedir = before or ""


@pytest.fixture
def world(tmp_path: Path, sshd: SshServer) -> GitWorld:
    world = GitWorld(tmp_path)
    world.url = f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{world.path}"
    world.seed({PROD: b"digest: sha256:aa\n"})
    return world


def trust(home: Path, sshd: SshServer) -> None:
    (home / ".ssh" / "known_hosts").write_text(sshd.host_key_line + "\n")


@pytest.mark.parametrize(("key", "passphrase"), [("plain", None), ("protected", PASSPHRASE)])
def test_clone_and_push_with_an_ssh_key(
    tmp_path: Path, sshd: SshServer, home: Path, world: GitWorld, key: str, passphrase: str | None
) -> None:
    trust(home, sshd)
    phrase = None
    if passphrase is not None:
        phrase = tmp_path / "passphrase"
        phrase.write_text(passphrase + "\n")
    credentials = SshKey(private_key=sshd.keys / key, passphrase_file=phrase)
    repo = Pygit2ConfigRepo.open(world.url, tmp_path / "cache", credentials=credentials)

    outcome = repo.update_branch(
        "main", lambda _v: {PROD: b"over ssh\n"}, message="m", author=BOT, committer=BOT
    )

    assert outcome.commit == world.remote_tip("main")
    assert outcome.commit is not None
    assert world.remote_files(outcome.commit)[PROD] == b"over ssh\n"


def test_an_unknown_host_key_is_refused(
    tmp_path: Path, sshd: SshServer, home: Path, world: GitWorld
) -> None:
    credentials = SshKey(private_key=sshd.keys / "plain")  # known_hosts stays empty

    with pytest.raises(TransientError, match=r"unknown remote ssh hostkey.*known_hosts"):
        Pygit2ConfigRepo.open(world.url, tmp_path / "cache", credentials=credentials)


@pytest.mark.parametrize(
    ("key", "passphrase"), [("stranger", None), ("protected", "not the passphrase")]
)
def test_a_refused_key_names_the_key_not_the_passphrase(
    tmp_path: Path,
    sshd: SshServer,
    home: Path,
    world: GitWorld,
    key: str,
    passphrase: str | None,
) -> None:
    trust(home, sshd)
    phrase = None
    if passphrase is not None:
        phrase = tmp_path / "passphrase"
        phrase.write_text(passphrase)
    credentials = SshKey(private_key=sshd.keys / key, passphrase_file=phrase)

    with pytest.raises(
        TransientError, match=re.escape(f"refused the SSH key {sshd.keys / key}")
    ) as refused:
        Pygit2ConfigRepo.open(world.url, tmp_path / "cache", credentials=credentials)
    if passphrase is not None:
        assert passphrase not in str(refused.value)
