"""Settings -> the clone URL and credentials the daemon uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import PolicyError
from reconciler.gitrepo.credentials import HttpsToken, SshAgent
from reconciler.settings import Settings
from reconciler.wiring import credentials, repo_url


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        ("https://api.github.com", "https://github.com/acme/config.git"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/acme/config.git"),
    ],
)
def test_the_clone_url_follows_the_api_root(api: str, expected: str) -> None:
    settings = Settings(repo="", forge="github", github_repo="acme/config", github_url=api)
    assert repo_url(settings) == expected


def test_repo_is_required_without_github() -> None:
    with pytest.raises(PolicyError, match="--repo is required"):
        repo_url(Settings(repo=""))


def test_the_github_token_also_pushes_and_ssh_remotes_use_the_agent() -> None:
    token = Path("/run/secrets/token")
    github = Settings(repo="", forge="github", github_repo="a/b", github_token_file=token)
    assert credentials(github) == HttpsToken(file=token)
    assert credentials(Settings(repo="git@github.com:a/b.git")) == SshAgent()
    assert credentials(Settings(repo="/srv/config.git")) is None
