"""The clone URL ``--repo`` defaults to with ``--forge github``, from ``--github-url``.

Each row names where GitHub documents the API root and the clone URL it stands for.
"""

from __future__ import annotations

import pytest

from reconciler.settings import Settings
from reconciler.wiring import clone_url, repo_url

# (source, --github-url, clone URL of acme/config)
CASES = [
    (
        "github.com: REST API docs, 'Getting started with the REST API' (https://api.github.com); "
        "'About remote repositories' (https://github.com/USER/REPO.git)",
        "https://api.github.com",
        "https://github.com/acme/config.git",
    ),
    (
        "GHES: 'REST API endpoints for GitHub Enterprise administration', Endpoint URLs: "
        "http(s)://HOSTNAME/api/v3; git on the same host",
        "https://ghe.example.com/api/v3",
        "https://ghe.example.com/acme/config.git",
    ),
    (
        "GHE.com: 'About GitHub Enterprise Cloud with data residency': the enterprise is at "
        "SUBDOMAIN.ghe.com, its API at api.SUBDOMAIN.ghe.com",
        "https://api.octocorp.ghe.com",
        "https://octocorp.ghe.com/acme/config.git",
    ),
    (
        "GHE.com as above, with a trailing slash and upper-case letters (hosts are "
        "case-insensitive)",
        "https://API.Octocorp.GHE.com/",
        "https://Octocorp.GHE.com/acme/config.git",
    ),
    (
        "GHES as above, with a trailing slash",
        "https://ghe.example.com/api/v3/",
        "https://ghe.example.com/acme/config.git",
    ),
    (
        "GHES as above, http(s): the docs' http form, and a port",
        "http://ghe.internal:8080/api/v3",
        "http://ghe.internal:8080/acme/config.git",
    ),
    (
        "GHES whose host merely starts with api.: only github.com and ghe.com lose it",
        "https://api.example.com/api/v3",
        "https://api.example.com/acme/config.git",
    ),
    (
        "a look-alike of ghe.com is a GHES host like any other",
        "https://api.octocorp.ghe.com.example.net/api/v3",
        "https://api.octocorp.ghe.com.example.net/acme/config.git",
    ),
    (
        "credentials written into the URL never reach the clone URL",
        "https://user:secret@ghe.example.com/api/v3",
        "https://ghe.example.com/acme/config.git",
    ),
]


@pytest.mark.parametrize(("source", "api", "expected"), CASES, ids=[c[1] for c in CASES])
def test_the_clone_url_is_the_web_host_of_the_api_root(
    source: str, api: str, expected: str
) -> None:
    assert clone_url(api, "acme/config") == expected, source


def test_repo_url_uses_it_only_when_repo_is_not_given() -> None:
    github = Settings(
        repo="", forge="github", github_repo="acme/config", github_url="https://api.x.ghe.com"
    )
    assert repo_url(github) == "https://x.ghe.com/acme/config.git"
    assert repo_url(Settings(repo="/srv/config.git", forge="github")) == "/srv/config.git"
