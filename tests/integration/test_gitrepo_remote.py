"""Remote addresses, credential descriptions and SSH key wiring (no SSH server needed)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import CredentialType

from reconciler.errors import PermanentError, PolicyError
from reconciler.gitrepo.credentials import (
    HttpsToken,
    Secret,
    SshAgent,
    SshKey,
    read_passphrase,
    read_token,
)
from reconciler.gitrepo.pygit2_adapter.callbacks import Callbacks as _Callbacks
from reconciler.gitrepo.remote import parse_remote


@pytest.mark.parametrize(
    ("text", "url", "local", "ssh"),
    [
        ("https://github.com/acme/config.git", "https://github.com/acme/config.git", None, False),
        (
            "ssh://git@github.com/acme/config.git",
            "ssh://git@github.com/acme/config.git",
            None,
            True,
        ),
        ("git@github.com:acme/config.git", "git@github.com:acme/config.git", None, True),
        (
            "file:///srv/git/config%20repo.git",
            "file:///srv/git/config%20repo.git",
            "/srv/git/config repo.git",
            False,
        ),
        ("/srv/git/config.git", "/srv/git/config.git", "/srv/git/config.git", False),
        ("relative/config.git", "/work/relative/config.git", "/work/relative/config.git", False),
    ],
)
def test_remote_addresses_are_classified(text: str, url: str, local: str | None, ssh: bool) -> None:
    remote = parse_remote(text, cwd=Path("/work"))

    assert remote.url == url
    assert remote.local_path == (Path(local) if local else None)
    assert remote.is_local == (local is not None)
    assert remote.is_ssh == ssh


@pytest.mark.parametrize(
    ("text", "secret", "message"),
    [
        (
            "https://x-access-token:ghp_SECRET1@github.com/a/b.git",
            "ghp_SECRET1",
            "carries credentials",
        ),
        ("https://ghp_SECRET2@github.com/a/b.git", "ghp_SECRET2", "carries credentials"),
        ("https://github.com/a/b.git?token=SECRET3", "SECRET3", "query"),
        ("ssh://git:SECRET4@github.com/a/b.git", "SECRET4", "password"),
        ("ftp://example.com/repo.git", None, "not supported"),
        ("  ", None, "empty"),
    ],
)
def test_unusable_addresses_are_refused_without_echoing_secrets(
    text: str, secret: str | None, message: str
) -> None:
    with pytest.raises(PolicyError, match=message) as refused:
        parse_remote(text)
    if secret:
        assert secret not in str(refused.value)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://github.com/acme/config.git", "https://github.com/acme/config.git", True),
        ("https://github.com/acme/config.git", "https://github.com/other/config.git", False),
        ("/srv/a/config.git", "/srv/b/config.git", False),
    ],
)
def test_cache_names_are_readable_and_unique_per_url(first: str, second: str, same: bool) -> None:
    name = parse_remote(first).cache_name()

    assert name.startswith("config-")
    assert name.endswith(".git")
    assert (name == parse_remote(second).cache_name()) == same


def test_a_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")

    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == "hunter2"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


@pytest.mark.parametrize(
    ("token", "environ", "files", "expected"),
    [
        (HttpsToken(file=Path("t")), {}, {"t": " abc \n"}, "abc"),
        (HttpsToken(env="TOKEN"), {"TOKEN": "xyz\n"}, {}, "xyz"),
    ],
)
def test_tokens_are_read_from_their_source(
    tmp_path: Path, token: HttpsToken, environ: dict[str, str], files: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    if token.file is not None:
        token = HttpsToken(file=tmp_path / token.file)

    assert read_token(token, environ).reveal() == expected


@pytest.mark.parametrize(
    ("token", "environ", "message"),
    [
        (HttpsToken(file=Path("missing")), {}, "cannot read the token in file"),
        (HttpsToken(file=Path("empty")), {}, "the token in file .* is empty"),
        (HttpsToken(env="TOKEN"), {}, "environment variable TOKEN is empty or unset"),
        (HttpsToken(env="TOKEN"), {"TOKEN": "  "}, "environment variable TOKEN is empty"),
    ],
)
def test_a_missing_token_names_where_it_was_expected(
    tmp_path: Path, token: HttpsToken, environ: dict[str, str], message: str
) -> None:
    (tmp_path / "empty").write_text("\n")
    if token.file is not None:
        token = HttpsToken(file=tmp_path / token.file)

    with pytest.raises(PermanentError, match=message):
        read_token(token, environ)


@pytest.mark.parametrize("kwargs", [{}, {"file": Path("a"), "env": "B"}])
def test_a_token_has_exactly_one_source(kwargs: dict[str, object]) -> None:
    with pytest.raises(PolicyError, match="exactly one"):
        HttpsToken(**kwargs)  # type: ignore[arg-type]


def key_files(tmp_path: Path, passphrase: str | None) -> SshKey:
    private = tmp_path / "id_ed25519"
    private.write_text("private key bytes")
    (tmp_path / "id_ed25519.pub").write_text("ssh-ed25519 AAAA test")
    phrase = None
    if passphrase is not None:
        phrase = tmp_path / "passphrase"
        phrase.write_text(passphrase + "\n")
    return SshKey(private_key=private, passphrase_file=phrase)


@pytest.mark.parametrize(
    ("username_from_url", "expected_user"), [("deploy", "deploy"), (None, "git")]
)
@pytest.mark.parametrize("passphrase", [None, "correct horse"])
def test_an_ssh_key_is_offered_as_a_keypair(
    tmp_path: Path, username_from_url: str | None, expected_user: str, passphrase: str | None
) -> None:
    key = key_files(tmp_path, passphrase)
    callbacks = _Callbacks(key, {})

    offered = callbacks.credentials("ssh://host/repo", username_from_url, CredentialType.SSH_KEY)

    assert isinstance(offered, pygit2.Keypair)
    assert offered.credential_tuple == (
        expected_user,
        str(tmp_path / "id_ed25519.pub"),
        str(tmp_path / "id_ed25519"),
        passphrase or "",
    )


def test_an_ssh_login_asks_for_the_user_name_first(tmp_path: Path) -> None:
    callbacks = _Callbacks(key_files(tmp_path, None), {})

    offered = callbacks.credentials("ssh://host/repo", None, CredentialType.USERNAME)

    assert isinstance(offered, pygit2.Username)
    assert offered.credential_tuple == ("git",)


def test_an_agent_is_offered_when_configured() -> None:
    offered = _Callbacks(SshAgent("deploy"), {}).credentials(
        "ssh://host/repo", None, CredentialType.SSH_KEY
    )

    assert type(offered) is pygit2.KeypairFromAgent
    assert offered.credential_tuple == ("deploy", None, None, None)


def test_a_missing_passphrase_file_names_the_key(tmp_path: Path) -> None:
    key = SshKey(private_key=tmp_path / "id", passphrase_file=tmp_path / "nope")

    with pytest.raises(PermanentError, match=f"passphrase file {tmp_path / 'nope'} of the SSH key"):
        read_passphrase(key)


def test_ssh_host_keys_are_not_accepted_blindly() -> None:
    callbacks = _Callbacks(SshAgent(), {})

    assert callbacks.certificate_check(None, False, b"github.com") is False  # noqa: FBT003 - pygit2 calls it so
    assert callbacks.certificate_check(None, True, b"github.com") is True  # noqa: FBT003 - pygit2 calls it so
