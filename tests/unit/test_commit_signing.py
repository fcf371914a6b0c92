"""Signing settings and the fake's signing: --signing-key / --signing-format and their
RECONCILER_* variables reach the settings; the daemon refuses to start with a key it cannot
use; the in-memory config repo signs every commit as the adapter does, and stores nothing
when its signer fails. Real signatures, checked by git: tests/integration/test_signed_commits.py."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from reconciler.errors import PolicyError
from reconciler.gitrepo.port import SigningError
from reconciler.gitrepo.signing import OpenPgpSigner, SshSigner
from reconciler.settings import Settings, add_repo_options, from_args
from reconciler.wiring import prepare
from tests.fakes.gitrepo import SEED_AUTHOR, FakeConfigRepo, FakeRemote
from tests.signing import Recording


def parsed(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser()
    add_repo_options(parser)
    return from_args(parser.parse_args(["--repo", "/srv/config.git", *argv]), environ={})


def test_signing_options_and_variables_reach_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (parsed([]).signing_key, parsed([]).signing_format) == (None, "ssh")
    flags = parsed(["--signing-key", "ABCDEF0123456789", "--signing-format", "openpgp"])
    assert (flags.signing_key, flags.signing_format) == ("ABCDEF0123456789", "openpgp")
    monkeypatch.setenv("RECONCILER_SIGNING_KEY", "/run/secrets/signing/key")
    monkeypatch.setenv("RECONCILER_SIGNING_FORMAT", "ssh")
    from_env = parsed([])
    assert (from_env.signing_key, from_env.signing_format) == ("/run/secrets/signing/key", "ssh")


def test_the_daemon_does_not_start_with_a_key_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "signing" / "key"
    settings = Settings(repo=str(tmp_path / "config.git"), signing_key=str(missing))
    with pytest.raises(PolicyError) as refused:
        prepare(settings)
    assert str(refused.value).startswith(f"cannot read the SSH signing key {missing}: ")
    assert "RECONCILER_SIGNING_KEY" in str(refused.value)


def test_the_fake_signs_every_commit_it_writes() -> None:
    remote = FakeRemote()
    remote.set_branch("main", remote.commit({"a": b"1\n"}))
    signer = Recording()
    repo = FakeConfigRepo(remote, signer=signer)

    outcome = repo.update_branch(
        "main", lambda _v: {"a": b"2\n"}, message="m\n", author=SEED_AUTHOR, committer=SEED_AUTHOR
    )

    assert outcome.commit is not None
    written = remote.commits[outcome.commit]
    assert written.signature is not None
    assert signer.signed == [written.payload()]


def test_the_fake_writes_nothing_when_its_signer_fails() -> None:
    remote = FakeRemote()
    seed = remote.commit({"a": b"1\n"})
    remote.set_branch("main", seed)
    repo = FakeConfigRepo(remote, signer=Recording(fail=True))

    with pytest.raises(SigningError, match="test key"):
        repo.update_branch(
            "main", lambda _v: {"a": b"2\n"}, message="m\n", author=SEED_AUTHOR,
            committer=SEED_AUTHOR,
        )  # fmt: skip

    assert list(remote.commits) == [seed]
    assert remote.refs["main"] == seed


def test_the_commit_identity_is_an_option_and_checked(tmp_path: Path) -> None:
    assert (parsed([]).commit_name, parsed([]).commit_email) == (
        "reconciler",
        "reconciler@localhost",
    )
    named = parsed(["--commit-name", "Promotions Bot", "--commit-email", "bot@example.com"])
    assert (named.commit_name, named.commit_email) == ("Promotions Bot", "bot@example.com")
    bad = Settings(repo=str(tmp_path / "config.git"), commit_email="<bot@example.com>")
    with pytest.raises(PolicyError, match="--commit-name or --commit-email: cannot commit as"):
        prepare(bad)


def test_a_signers_repr_shows_the_key_only() -> None:
    environ = {"GH_TOKEN": "ghp_never-shown", "GNUPGHOME": "/run/gnupg"}
    ssh = SshSigner(Path("/run/secrets/signing/key"), environ=environ)
    openpgp = OpenPgpSigner("ABCDEF0123456789", environ=environ)
    assert "ghp_never-shown" not in repr(ssh) + repr(openpgp)
    assert "/run/secrets/signing/key" in repr(ssh)
