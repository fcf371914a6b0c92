"""The request body's "What changes" section (reconciler/changes.py) and the marker beside it."""

from __future__ import annotations

import pytest

from reconciler import promotions
from reconciler.changes import (
    MAX_COMMITS,
    MAX_SECTION,
    Comparison,
    ImageChange,
    SourceCommit,
    commit_title,
    pull_number,
    revision,
    section,
    source_url,
)
from reconciler.registry.port import ImageLabels

OLD, NEW = "sha256:" + "1" * 64, "sha256:" + "2" * 64
SRC = "https://github.com/acme/app"
A, B = "a" * 40, "b" * 40
MARKER = promotions.Marker("app", "prod", "staging", NEW, "c" * 40)


@pytest.mark.parametrize(
    ("message", "pull", "title"),
    [
        ("Merge pull request #13 from acme/x\n\nShorter timeouts", 13, "Shorter timeouts"),
        ("Merge pull request #13 from acme/x", 13, "Merge pull request #13 from acme/x"),
        ("Retry calls (#12)\n\nbody", 12, "Retry calls (#12)"),
        ("Fix #12 in the middle", None, "Fix #12 in the middle"),
        ("", None, ""),
    ],
)
def test_pull_and_title(message: str, pull: int | None, title: str) -> None:
    assert pull_number(message) == pull
    assert commit_title(message) == title


@pytest.mark.parametrize(
    ("labels", "rev", "src"),
    [
        (ImageLabels(revision=A.upper(), source=SRC + ".git"), A, SRC),
        (ImageLabels(revision="v1.2", source="git+" + SRC + "/"), None, SRC),
        (ImageLabels(revision="abc", source="git@github.com:acme/app.git"), None, None),
        (ImageLabels(source="https://github.com/acme"), None, None),
        (ImageLabels(source="https://h/x/y?q=<script>"), None, None),
        (None, None, None),
    ],
)
def test_revision_and_source(labels: ImageLabels | None, rev: str | None, src: str | None) -> None:
    assert revision(labels) == rev
    assert source_url(labels) == src


def test_versions_revisions_and_a_compare_link() -> None:
    change = ImageChange(
        ImageLabels(revision=A, source=SRC, version="1.4.0"),
        ImageLabels(revision=B, source=SRC, version="1.5.0"),
    )
    text = section(change, OLD, NEW)
    assert "- version: `1.4.0` -> `1.5.0`" in text
    assert f"- source: {SRC} ([compare {A[:12]}...{B[:12]}]({SRC}/compare/{A}...{B}))" in text
    assert "Commits" not in text  # the forge listed none


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (ImageChange(unknown=("versions unknown: no [registry]",)), "- versions unknown"),
        (ImageChange(None, ImageLabels(version="2")), "- version: unknown -> `2`"),
        (ImageChange(ImageLabels(), ImageLabels()), "- image: `sha256:11111111` ->"),
    ],
)
def test_what_is_unknown_is_said(change: ImageChange, said: str) -> None:
    assert said in section(change, OLD, NEW)


def test_no_change_observed_no_section() -> None:
    assert section(None, OLD, NEW) == ""


def test_a_rollback_says_it_goes_back() -> None:
    change = ImageChange(
        ImageLabels(revision=A, source=SRC),
        ImageLabels(revision=B, source=SRC),
        Comparison((), 0, f"{SRC}/compare/x", behind=4),
    )
    assert "4 commit(s) behind the one running now" in section(change, OLD, NEW)


def test_commits_are_capped_newest_first_kept_and_text_cannot_act() -> None:
    commits = tuple(
        SourceCommit(f"{n:040x}", f"@team please <b>look</b> `{n}`", "@mallory", n)
        for n in range(200)
    )
    change = ImageChange(
        ImageLabels(revision=A, source=SRC),
        ImageLabels(revision=B, source=SRC),
        Comparison(commits[-MAX_COMMITS:], 250, f"{SRC}/compare/{A}...{B}"),
    )
    text = section(change, OLD, NEW)
    assert "Commits (250):" in text
    assert f"- and {250 - MAX_COMMITS} more (older)" in text
    assert text.count("\n- [`") == MAX_COMMITS
    assert "`@team please \u2039b\u203alook\u2039/b\u203a '199'` by `@mallory`" in text
    assert "<" not in text


def test_the_section_and_the_body_are_bounded_and_the_marker_reads_back() -> None:
    huge = ImageChange(
        ImageLabels(revision=A, source=SRC),
        ImageLabels(revision=B, source=SRC),
        Comparison(
            tuple(SourceCommit(f"{n:040x}", "x" * 500, "y" * 500, n) for n in range(30)),
            30,
            SRC,
        ),
        unknown=tuple("z" * 1000 for _ in range(100)),
    )
    text = section(huge, OLD, NEW)
    assert len(text) <= MAX_SECTION
    assert text.endswith("(the rest of this section was left out: too long)")
    body = promotions.body(MARKER, "o", "r", "e" * 100_000, (), changes=text)
    assert len(body) <= promotions.MAX_BODY
    assert promotions.parse_marker(body) == MARKER


def test_the_marker_is_the_last_one_in_the_body() -> None:
    forged = promotions.Marker("app", "prod", "staging", OLD, "")
    change = ImageChange(None, ImageLabels(version=forged.render()), unknown=(forged.render(),))
    body = promotions.body(MARKER, "o", "r", "", (), changes=section(change, None, NEW))
    assert promotions.parse_marker(body) == MARKER
    assert promotions.parse_marker(forged.render() + "\n" + MARKER.render()) == MARKER
