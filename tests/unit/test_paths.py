"""clean_path: a path a user or a policy gives, normalised the one way git stores paths
(no empty or "." parts, no trailing "/"), or refused when it would leave the repo."""

from __future__ import annotations

import pytest

from reconciler.errors import PolicyError
from reconciler.gitrepo.paths import clean_path


@pytest.mark.parametrize(
    ("given", "clean"),
    [
        ("overlays/dev/app/kustomization.yaml", "overlays/dev/app/kustomization.yaml"),
        ("", ""),
        (".", ""),
        ("./", ""),
        ("a/", "a"),
        ("a//b", "a/b"),
        ("./a", "a"),
        ("a/.", "a"),
        ("a/./b", "a/b"),
        ("a/././/b/", "a/b"),
        # Names that only start or end with dots are names, not "." or "..".
        (".hidden/x", ".hidden/x"),
        ("a/..b", "a/..b"),
        ("a../b", "a../b"),
        ("...", "..."),
        ("a/.b./c", "a/.b./c"),
    ],
)
def test_clean_path_normalises(given: str, clean: str) -> None:
    assert clean_path(given) == clean


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("..", "contains '..'"),
        ("a/../b", "contains '..'"),
        ("a/..", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("a\x00b", "NUL byte"),
    ],
)
def test_clean_path_refuses_what_leaves_the_repo(given: str, said: str) -> None:
    with pytest.raises(PolicyError, match=said):
        clean_path(given)
