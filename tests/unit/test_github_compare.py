"""Which source URLs name a repository on the GitHub the forge talks to."""

from __future__ import annotations

import pytest

from reconciler.forge.github.compare import repository_of


@pytest.mark.parametrize(
    ("source", "api", "expected"),
    [
        ("https://github.com/acme/app", "https://api.github.com", ("acme", "app")),
        ("https://GitHub.com/acme/app", "https://api.github.com", ("acme", "app")),
        ("https://ghe.example.com/acme/app", "https://ghe.example.com/api/v3", ("acme", "app")),
        ("https://acme.ghe.com/acme/app", "https://api.acme.ghe.com", ("acme", "app")),
        ("http://127.0.0.1:8080/acme/app", "http://127.0.0.1:8080", ("acme", "app")),
        ("http://127.0.0.1:9/acme/app", "http://127.0.0.1:8080", None),  # another port
        ("https://gitlab.com/acme/app", "https://api.github.com", None),
        ("https://github.com/acme", "https://api.github.com", None),
        ("https://github.com/acme/app/tree/main", "https://api.github.com", None),
    ],
)
def test_repository_of(source: str, api: str, expected: tuple[str, str] | None) -> None:
    assert repository_of(source, api) == expected
