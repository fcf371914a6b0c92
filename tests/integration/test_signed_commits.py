"""Signed commits on real repos: every commit the daemon's adapters write (promotion heads,
direct commits, local-forge merges, request records, a new repository) carries a signature
that the installed ``git verify-commit`` accepts with only the daemon's key trusted, for an
SSH key and an OpenPGP key; a signer that fails writes nothing; no key material is shown.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import PolicyError
from reconciler.forge.local import REQUESTS_BRANCH, LocalForge
from reconciler.gitrepo.port import Signature, SigningError
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from reconciler.gitrepo.signing import SshSigner, open_signer, probe
from tests.contract.forgeworld import BASE, PROD, LocalForgeWorld
from tests.contract.gitworld import GitWorld
from tests.fakes.forge import START, stepping_clock
from tests.signing import TestKey, openpgp_key, ssh_key, stop_agent

NEW = b"images:\n- name: app\n  digest: sha256:cc\n"
WHO = Signature("reconciler", "reconciler@localhost", START)


@pytest.fixture(params=["ssh", "openpgp"])
def key(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestKey]:
    made = ssh_key(tmp_path / "keys") if request.param == "ssh" else openpgp_key(tmp_path / "keys")
    yield made
    stop_agent(made)


def written_by_daemon(path: Path, seed: str) -> list[str]:
    """Every commit on every branch of the bare repo at ``path`` but ``seed``."""
    repo = pygit2.Repository(str(path))
    seen: set[str] = set()
    for name in repo.branches.local:
        walker = repo.walk(repo.branches.local[name].target)
        seen.update(str(commit.id) for commit in walker)
    seen.discard(seed)
    return sorted(seen)


def test_promotion_merge_and_record_commits_verify(key: TestKey, tmp_path: Path) -> None:
    world = GitWorld(tmp_path / "git", signer=key.signer)
    env = LocalForgeWorld(world)  # the daemon's clone signs; the seed is someone else's
    head = env.push_head("promote/prod/app", NEW)  # the promotion head (replace_branch)
    request = env.forge.open("promote/prod/app", "main", "prod: promote app", "body", ("x",))
    clock = stepping_clock(START + timedelta(days=1))
    for handle in ("@lead", "@ron"):  # reviews are record commits, from the reviewers' clones
        LocalForge(world.client(), "main", handle=handle, clock=clock).review(
            request.number, handle, "approved"
        )
    env.repo.fetch()
    merged = env.forge.merge(request.number, head, "prod: promote app (#1)\n")
    direct = env.repo.update_branch(  # a mode = "commit" promotion (update_branch)
        "main",
        lambda _view: {PROD: BASE[PROD]},
        message="staging: promote app\n",
        author=WHO,
        committer=WHO,
    ).commit

    commits = written_by_daemon(world.path, env.base)
    assert {head, merged, direct} <= set(commits)
    assert env.repo.tip(REQUESTS_BRANCH) in commits
    assert len(commits) >= 7  # head, open, 2 reviews, merge, its record, direct
    for commit in commits:
        verified = key.verify(world.path, commit)
        assert verified.returncode == 0, (commit, verified.stderr)
        assert "Good" in verified.stderr or "GOODSIG" in verified.stderr
    assert key.verify(world.path, env.base).returncode != 0  # the unsigned seed is refused


def test_a_new_repository_is_signed(key: TestKey, tmp_path: Path) -> None:
    path = tmp_path / "new.git"
    commit = create_repository(
        path, {"a.txt": b"a\n"}, branch="main", message="seed\n", author=WHO, signer=key.signer
    )
    assert key.verify(path, commit).returncode == 0


def test_the_signature_is_what_git_commit_dash_s_writes(tmp_path: Path) -> None:
    """The header git itself reads: gpgsig holding an SSH signature in namespace git."""
    made = ssh_key(tmp_path / "keys")
    path = tmp_path / "new.git"
    commit = create_repository(
        path, {"a.txt": b"a\n"}, branch="main", message="seed\n", author=WHO, signer=made.signer
    )
    raw = subprocess.run(
        ["git", "-C", str(path), "cat-file", "commit", commit],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "\ngpgsig -----BEGIN SSH SIGNATURE-----\n" in raw
    shown = subprocess.run(
        ["git", *made.git_config(), "-C", str(path), "log", "-1", "--format=%G?", commit],
        capture_output=True, text=True, env=made.git_env(), check=True,
    ).stdout  # fmt: skip
    assert shown.strip() == "G"


def test_a_signer_that_fails_writes_nothing(tmp_path: Path) -> None:
    made = ssh_key(tmp_path / "keys")
    world = GitWorld(tmp_path / "git", signer=made.signer)
    base = world.seed(BASE)
    repo = world.client()
    key_file = made.signer.key if isinstance(made.signer, SshSigner) else None
    assert key_file is not None
    secret = key_file.read_text()
    key_file.chmod(0o644)  # ssh-keygen refuses a private key others may read

    with pytest.raises(SigningError) as failed:
        repo.update_branch(
            "main", lambda _view: {PROD: NEW}, message="m\n", author=WHO, committer=WHO
        )

    message = str(failed.value)
    assert message.count("\n") == 0
    assert str(key_file) in message
    assert "chmod 600" in message
    assert secret.splitlines()[1] not in message
    assert world.remote_tip("main") == base
    loose = pygit2.Repository(str(world.path))
    assert [str(c.id) for c in loose.walk(loose.head.target)] == [base]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "cannot read the SSH signing key"),
        ("passphrase", "has a passphrase"),
        ("not-a-key", "not an SSH private key ssh-keygen can read"),
    ],
)
def test_an_unusable_ssh_key_is_one_actionable_line(
    case: str, expected: str, tmp_path: Path
) -> None:
    made = ssh_key(tmp_path / "keys")
    assert isinstance(made.signer, SshSigner)
    key_file = made.signer.key
    if case == "missing":
        key_file = tmp_path / "nowhere"
    elif case == "passphrase":
        subprocess.run(
            ["ssh-keygen", "-q", "-p", "-N", "hunter2-passphrase", "-f", str(key_file)],
            check=True,
        )
    else:
        key_file.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64 at all\n")
    signer = SshSigner(key_file)

    with pytest.raises(SigningError) as failed:
        probe(signer)

    assert expected in str(failed.value)
    assert str(key_file) in str(failed.value)
    assert "\n" not in str(failed.value)
    assert "hunter2" not in str(failed.value)


def test_open_signer_checks_the_key_file_at_once(tmp_path: Path) -> None:
    assert open_signer(None) is None
    with pytest.raises(PolicyError, match=r"cannot read the SSH signing key .*nowhere"):
        open_signer(tmp_path / "nowhere", "ssh")
    with pytest.raises(PolicyError, match="choose ssh or openpgp"):
        open_signer(tmp_path / "nowhere", "x509")
    with pytest.raises(PolicyError, match="key id, fingerprint or email"):
        open_signer("--homedir=/tmp", "openpgp")


def test_an_unknown_openpgp_key_is_one_actionable_line(tmp_path: Path) -> None:
    made = openpgp_key(tmp_path / "keys")
    try:
        signer = open_signer("0123456789ABCDEF", "openpgp", environ=made.git_env())
        assert signer is not None
        with pytest.raises(SigningError, match="no secret key by that id: import it"):
            probe(signer)
        assert probe(made.signer) == "-----BEGIN PGP SIGNATURE-----"
    finally:
        stop_agent(made)


def test_a_head_made_unsigned_before_is_replaced_by_a_signed_one(tmp_path: Path) -> None:
    made = ssh_key(tmp_path / "keys")
    world = GitWorld(tmp_path / "git")
    base = world.seed(BASE)
    unsigned = world.client().replace_branch(
        "promote/prod/app", lambda _v: {PROD: NEW}, base=base, expected_old=None,
        message="m\n", author=WHO, committer=WHO,
    ).commit  # fmt: skip
    signing = Pygit2ConfigRepo.open(str(world.path), tmp_path / "signing-cache", signer=made.signer)

    again = signing.replace_branch(
        "promote/prod/app", lambda _v: {PROD: NEW}, base=base, expected_old=unsigned,
        message="m\n", author=WHO, committer=WHO,
    )  # fmt: skip

    assert again.changed
    assert again.commit != unsigned
    assert again.commit is not None
    assert made.verify(world.path, again.commit).returncode == 0


def test_no_temporary_folder_is_one_actionable_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = ssh_key(tmp_path / "keys")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    with pytest.raises(SigningError, match=r"no temporary folder to write in .*writable /tmp"):
        probe(made.signer)
