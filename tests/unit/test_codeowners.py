"""CODEOWNERS semantics, checked against GitHub's documented example file."""

from __future__ import annotations

import pytest

from reconciler import codeowners

# GitHub's example CODEOWNERS from "About code owners", line for line (with the second
# /apps/ block, which the documentation shows as an alternative, given its own case below).
GITHUB_EXAMPLE = """\
# This is a comment.
# Each line is a file pattern followed by one or more owners.

# These owners will be the default owners for everything in
# the repo. Unless a later match takes precedence,
# @global-owner1 and @global-owner2 will be requested for
# review when someone opens a pull request.
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most
# precedence. When someone opens a pull request that only
# modifies JS files, only @js-owner and not the global
# owner(s) will be requested for a review.
*.js    @js-owner #This is an inline comment.

# You can also use email addresses if you prefer.
*.go docs@example.com

# Teams can be specified as code owners as well.
*.txt @octo-org/octocats

# @doctocat owns any files in the build/logs directory at the root of the repository and
# any of its subdirectories.
/build/logs/ @doctocat

# The `docs/*` pattern will match files like `docs/getting-started.md` but not further
# nested files like `docs/build-app/troubleshooting.md`.
docs/*  docs@example.com

# @octocat owns any file in an apps directory anywhere in your repository.
apps/ @octocat

# @doctocat owns any file in the `/docs` directory in the root of your repository and any
# of its subdirectories.
/docs/ @doctocat

# Any change inside the `/scripts` directory will require approval from @doctocat or
# @octocat.
/scripts/ @doctocat @octocat

# @octocat owns any file in a `/logs` directory such as `/build/logs`, `/scripts/logs`,
# and `/deeply/nested/logs`.
**/logs @octocat

# @octocat owns any file in the `/apps` directory in the root of your repository except for
# the `/apps/github` subdirectory, as its owners are left empty.
/apps/ @octocat
/apps/github
"""

GLOBAL = ("@global-owner1", "@global-owner2")

CASES = [
    ("README.md", GLOBAL),
    ("src/index.js", ("@js-owner",)),
    ("main.go", ("docs@example.com",)),
    ("notes/a.txt", ("@octo-org/octocats",)),
    ("build/logs/today.log", ("@octocat",)),  # **/logs is later and wins
    ("build/logs/deep/er.txt", ("@octocat",)),
    ("docs/getting-started.md", ("@doctocat",)),  # /docs/ is later than docs/*
    ("docs/build-app/troubleshooting.md", ("@doctocat",)),
    ("src/apps/thing.py", ("@octocat",)),  # apps/ anywhere
    ("scripts/deploy.sh", ("@doctocat", "@octocat")),
    ("deeply/nested/logs/x", ("@octocat",)),
    ("apps/api/main.py", ("@octocat",)),
    ("apps/github/main.py", ()),  # un-owned by the owner-less line
    ("apps/github", ()),
]


@pytest.mark.parametrize(("path", "owners"), CASES, ids=[c[0] for c in CASES])
def test_githubs_documented_example(path: str, owners: tuple[str, ...]) -> None:
    assert codeowners.parse(GITHUB_EXAMPLE).owners_of(path) == owners


def test_inline_comment_is_not_an_owner() -> None:
    rule = codeowners.parse(GITHUB_EXAMPLE).rule_for("a.js")
    assert rule is not None
    assert (rule.line, rule.owners) == (14, ("@js-owner",))


PATTERNS = [
    # pattern, path, matches
    ("docs/*", "docs/getting-started.md", True),
    ("docs/*", "docs/build-app/troubleshooting.md", False),
    ("/overlays/prod/*", "overlays/prod/kustomization.yaml", True),
    ("/overlays/prod/*", "overlays/prod/app/kustomization.yaml", False),  # * stops at /
    ("/overlays/prod/", "overlays/prod/app/kustomization.yaml", True),
    ("overlays/prod", "overlays/prod/app/kustomization.yaml", True),
    ("/overlays/prod/**", "overlays/prod/app/kustomization.yaml", True),
    ("overlays/*/kustomization.yaml", "overlays/prod/kustomization.yaml", True),
    ("overlays/*/kustomization.yaml", "overlays/prod/app/kustomization.yaml", False),
    ("overlays/**/kustomization.yaml", "overlays/prod/app/kustomization.yaml", True),
    ("overlays/**/kustomization.yaml", "overlays/kustomization.yaml", True),
    ("*.yaml", "overlays/prod/kustomization.yaml", True),
    ("kustomization.yaml", "overlays/prod/kustomization.yaml", True),
    ("/kustomization.yaml", "overlays/prod/kustomization.yaml", False),
    ("prod/", "overlays/prod/kustomization.yaml", True),
    ("/prod/", "overlays/prod/kustomization.yaml", False),
    ("Overlays/", "overlays/prod/kustomization.yaml", False),  # case-sensitive
    ("overlays/pro?/", "overlays/prod/x", True),
    ("*", "a/b/c", True),
    ("\\#notes", "#notes", True),
    ("a\\ b/", "a b/c", True),
]


@pytest.mark.parametrize(("pattern", "path", "matches"), PATTERNS)
def test_pattern(pattern: str, path: str, matches: bool) -> None:
    parsed = codeowners.parse(f"{pattern} @owner\n")
    assert parsed.errors == ()
    assert parsed.rules[0].matches(path) is matches


INVALID = [
    ("!overlays/prod/ @a", "negation with ! is not supported"),
    ("overlays/[pd]rod/ @a", "character ranges with [ ] are not supported"),
    ("overlays/[prod/ @a", "character ranges with [ ] are not supported"),
    ("overlays/prod/ owner-without-at", '"owner-without-at" is not an owner'),
]


@pytest.mark.parametrize(("line", "message"), INVALID)
def test_invalid_lines_are_skipped(line: str, message: str) -> None:
    parsed = codeowners.parse(f"* @default\n{line}\n")
    assert [(e.line, message in e.message) for e in parsed.errors] == [(2, True)]
    assert parsed.owners_of("overlays/prod/x") == ("@default",)


def test_location_order_and_size_limit() -> None:
    files = {
        "CODEOWNERS": b"* @root\n",
        "docs/CODEOWNERS": b"* @docs\n",
    }
    assert codeowners.find(files.get).owners_of("x") == ("@root",)
    files[".github/CODEOWNERS"] = b"* @github\n"
    assert codeowners.find(files.get).owners_of("x") == ("@github",)
    files[".github/CODEOWNERS"] = b"* @github\n" + b"#" * codeowners.MAX_BYTES
    found = codeowners.find(files.get)
    assert found.owners_of("x") == ()  # too large: GitHub ignores it, nothing is owned
    assert "ignores 3 MB or more" in found.errors[0].message
    nothing: dict[str, bytes] = {}
    assert codeowners.find(nothing.get) == codeowners.NONE


# -- is_owner: the one rule planning, the local forge and the fake use -------------------------
# GitHub: "usernames are not case sensitive" (docs.github.com, "Creating an account on GitHub":
# a login is unique without regard to case), so an approval by "Alice" counts for "@alice".
TEAMS = {"@org/ops": frozenset({"@Carol", "@dave"})}


@pytest.mark.parametrize(
    ("who", "owners", "expected"),
    [
        ("@alice", ("@alice",), True),
        ("@Alice", ("@alice",), True),  # logins: case does not matter
        ("@alice", ("@ALICE", "@bob"), True),
        ("@bob", ("@alice",), False),
        ("@carol", ("@org/ops",), True),  # a member of a listed team, case aside
        ("@DAVE", ("@org/ops",), True),
        ("@erin", ("@org/ops",), False),  # not a member
        ("@carol", ("@org/devs",), False),  # a team nobody told us the members of
        ("@org/ops", ("@org/ops",), True),  # the team's own handle
        ("@alice", (), False),  # no owners: nobody is an owner
    ],
)
def test_is_owner(who: str, owners: tuple[str, ...], expected: bool) -> None:
    assert codeowners.is_owner(who, owners, TEAMS) is expected
