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


# -- gitignore matching as GitHub applies it to files ------------------------------------------
# Each row: (source, pattern, path, owned). Paths are files, as in a pull request's diff.
# HMARR: the pattern table of hmarr/codeowners (testdata/patterns.json), a CODEOWNERS
# implementation whose cases are checked against GitHub; its one directory-path case
# ("foo/bar/") is left out, since CODEOWNERS decides files. GITIGNORE: git's gitignore(5)
# documentation, PATTERN FORMAT. GITHUB: docs.github.com "About code owners", example file.
# ISSUE: the families the fidelity review found (each also follows from gitignore(5)).
HMARR = "hmarr/codeowners testdata/patterns.json"
GITIGNORE = "gitignore(5), PATTERN FORMAT"
GITHUB = "docs.github.com, About code owners"
ISSUE = "fidelity review (trailing-slash folders, unanchored wildcards, escapes)"

TABLE: list[tuple[str, str, str, bool]] = [
    *(
        (HMARR, pattern, path, owned)
        for pattern, cases in {
            "foo": {
                "foo": True,
                "foo.txt": False,
                "foo/bar": True,
                "bar/foo": True,
                "bar/foo.txt": False,
                "bar/baz": False,
                "bar/foo/baz": True,
            },
            "/foo": {
                "foo": True,
                "fool.txt": False,
                "foo/bar": True,
                "bar/foo": False,
                "bar/baz": False,
                "foo/bar/baz": True,
                "bar/foo/baz": False,
            },
            "foo/": {
                "foo": False,
                "foo/bar": True,
                "foo/bar/baz": True,
                "bar/foo": False,
                "bar/baz": False,
                "bar/foo/baz": True,
                "bar/foo/baz/qux": True,
            },
            "/foo/": {
                "foo": False,
                "foo/bar": True,
                "foo/bar/baz": True,
                "bar/foo": False,
                "bar/baz": False,
                "bar/foo/baz": False,
                "bar/foo/baz/qux": False,
            },
            "foo/bar": {
                "foo/bar": True,
                "foo/bart": False,
                "foo/bar/baz": True,
                "baz/foo/bar": False,
                "baz/foo/bar/qux": False,
            },
            "/foo/bar": {
                "foo/bar": True,
                "foo/bart": False,
                "foo/bar/baz": True,
                "baz/foo/bar": False,
                "baz/foo/bar/qux": False,
            },
            "foo/bar/": {
                "foo/bar": False,
                "foo/bart": False,
                "foo/bar/baz": True,
                "baz/foo/bar": False,
                "baz/foo/bar/qux": False,
            },
            "/foo/bar/": {
                "foo/bar": False,
                "foo/bart": False,
                "foo/bar/baz": True,
                "foo/bar/baz/qux": True,
                "baz/foo/bar": False,
                "baz/foo/bar/qux": False,
            },
            "*": {
                "foo": True,
                "foo/bar": True,
                "bar/foo": True,
                "bar/foo/baz": True,
                "bar/baz": True,
                "xfoo": True,
            },
            "f*": {
                "foo": True,
                "foo/bar": True,
                "foo/bar/baz": True,
                "bar/foo": True,
                "bar/foo/baz": True,
                "bar/baz": False,
                "xfoo": False,
            },
            "/*": {"foo": True, "bar": True, "foo/bar": False, "foo/bar/baz": False},
            "/f*": {
                "foo": True,
                "foo/bar": True,
                "foo/bar/baz": True,
                "bar/foo": False,
                "bar/foo/baz": False,
                "bar/baz": False,
                "xfoo": False,
            },
            "f*/": {
                "foo": False,
                "foo/bar": True,
                "bar/foo": False,
                "bar/foo/baz": True,
                "bar/baz": False,
                "xfoo": False,
            },
            "/*/": {"foo": False, "foo/bar": True, "bar/foo": True, "bar/foo/baz": True},
            "/f*/": {
                "foo": False,
                "foo/bar": True,
                "bar/foo": False,
                "bar/foo/baz": False,
                "bar/baz": False,
                "xfoo": False,
            },
            "f\\*o": {"foo": False, "f*o": True},
            "foo/*": {
                "foo": False,
                "foo/bar": True,
                "foo/bar/baz": False,
                "bar/foo": False,
                "bar/foo/baz": False,
                "bar/baz": False,
                "xfoo": False,
            },
            "foo/*.txt": {
                "foo": False,
                "foo/bar.txt": True,
                "foo/bar/baz.txt": False,
                "qux/foo/bar.txt": False,
                "qux/foo/bar/baz.txt": False,
            },
            "foo/*/baz": {
                "foo": False,
                "foo/bar": False,
                "foo/baz": False,
                "foo/bar/baz": True,
                "foo/bar/baz/qux": True,
            },
            "f?o": {"foo": True, "fo": False, "fooo": False},
            "f\\?o": {"foo": False, "f?o": True},
            "**/foo/bar": {
                "foo/bar": True,
                "qux/foo/bar": True,
                "qux/foo/bar/baz": True,
                "foo/baz/bar": False,
                "qux/foo/baz/bar": False,
            },
            "**/*bar*": {
                "bar": True,
                "foo/bar": True,
                "foo/rebar": True,
                "foo/barrio": True,
                "foo/qux/bar": True,
            },
            "foo/bar/**": {
                "foo/bar": False,
                "foo/bar/baz": True,
                "foo/bar/baz/qux": True,
                "qux/foo/bar": False,
                "qux/foo/bar/baz": False,
            },
            "foo/**/bar": {
                "foo/bar": True,
                "foo/bar/baz": True,
                "foo/qux/bar/baz": True,
                "foo/qux/quux/bar/baz": True,
                "foo/bar/baz/qux": True,
                "qux/foo/bar": False,
                "qux/foo/bar/baz": False,
            },
            "foo/**/": {"foo": False, "foo/bar": True, "foo/bar/baz": True},
            "foo/**/bar/b*": {
                "foo/bar": False,
                "foo/bar/baz": True,
                "foo/bar/qux": False,
                "foo/qux/bar": False,
                "foo/qux/bar/baz": True,
                "foo/qux/bar/qux": False,
            },
        }.items()
        for path, owned in cases.items()
    ),
    # "frotz/" matches a directory frotz and a/frotz, never a file named frotz.
    (GITIGNORE, "frotz/", "frotz/x", True),
    (GITIGNORE, "frotz/", "a/frotz/x", True),
    (GITIGNORE, "frotz/", "frotz", False),
    # "doc/frotz/" (a slash in the middle) is relative to the root: not a/doc/frotz.
    (GITIGNORE, "doc/frotz/", "doc/frotz/x", True),
    (GITIGNORE, "doc/frotz/", "a/doc/frotz/x", False),
    # "foo/*" matches foo/test.json, not foo/bar/hello.c.
    (GITIGNORE, "foo/*", "foo/test.json", True),
    (GITIGNORE, "foo/*", "foo/bar/hello.c", False),
    # "docs/*" owns docs/getting-started.md, not docs/build-app/troubleshooting.md.
    (GITHUB, "docs/*", "docs/getting-started.md", True),
    (GITHUB, "docs/*", "docs/build-app/troubleshooting.md", False),
    # The families a trailing slash, an unanchored wildcard or an escape decides.
    (ISSUE, "/fish/*/", "fish/salmon", False),
    (ISSUE, "/fish/*/", "fish/salmon/roe.txt", True),
    (ISSUE, "src/parser/*/", "src/parser/main.go", False),
    (ISSUE, "src/parser/*/", "src/parser/lexer/scan.go", True),
    (ISSUE, "/overlays/prod/", "overlays/prod", False),
    (ISSUE, "/overlays/prod/", "overlays/prod/kustomization.yaml", True),
    (ISSUE, "f*", "bar/foo/x.yaml", True),
    (ISSUE, "/pages/\\[id\\].js", "pages/[id].js", True),
    (ISSUE, "my\\ file.txt", "docs/my file.txt", True),
]


@pytest.mark.parametrize(
    ("source", "pattern", "path", "owned"),
    TABLE,
    ids=[f"{pattern}|{path}" for _, pattern, path, _ in TABLE],
)
def test_pattern_owns_a_file_as_github_reads_it(
    source: str, pattern: str, path: str, owned: bool
) -> None:
    parsed = codeowners.parse(f"{pattern} @owner\n")
    assert not parsed.errors, (source, parsed.errors)
    assert bool(parsed.owners_of(path)) is owned, source


def test_an_unescaped_range_is_still_refused_and_an_escaped_one_is_literal() -> None:
    refused = codeowners.parse("/pages/[id].js @owner\n")
    assert [e.line for e in refused.errors] == [1]
    assert refused.owners_of("pages/[id].js") == ()
    assert codeowners.parse("/pages/\\[id\\].js @owner\n").owners_of("pages/[id].js")
