"""Git trailers: formatting into a commit message and parsing back out."""

from __future__ import annotations

import pytest

from reconciler.gitrepo.trailers import Trailer, parse_trailers, trailer_values, with_trailers

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Title only", ()),
        ("Key: value", ()),  # the title is never a trailer block
        ("Title\n\nPromoted-From: staging\n", (("Promoted-From", "staging"),)),
        (
            "Title\n\nBody text.\n\nPromoted-From: staging\nImage-Digest: " + DIGEST + "\n",
            (("Promoted-From", "staging"), ("Image-Digest", DIGEST)),
        ),
        ("Title\n\nKey : spaced   \n", (("Key", "spaced"),)),
        ("Title\n\nKey:tight\n", (("Key", "tight"),)),
        ("Title\n\nKey: first\n  continued here\n", (("Key", "first continued here"),)),
        ("Title\n\nA: 1\nA: 2\n", (("A", "1"), ("A", "2"))),
        ("Title\n\nA: 1\nnot a trailer\n", ()),  # every line of the block must be one
        ("Title\n\nKey with space: x\n", ()),
        ("Title\n\nA: 1\n\nJust prose at the end.\n", ()),  # only the last paragraph counts
        ("Title\n\nA: 1\n\n\n\n", (("A", "1"),)),  # trailing blank lines are ignored
        ("Title\r\n\r\nA: 1\r\n", (("A", "1"),)),
        ("Title\n\nA: 1\n---\nB: 2\n", (("A", "1"),)),  # a divider ends the message
        ("Title\n\nEmpty:\n", (("Empty", ""),)),
        ("", ()),
    ],
)
def test_parse(message: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert [(t.key, t.value) for t in parse_trailers(message)] == list(expected)


@pytest.mark.parametrize(
    ("message", "trailers", "expected"),
    [
        ("Title", [], "Title\n"),
        ("Title\n\n\n", [Trailer("A", "1")], "Title\n\nA: 1\n"),
        (
            "Promote app\n\nBody.",
            [Trailer("Promoted-From", "staging"), Trailer("Image-Digest", DIGEST)],
            f"Promote app\n\nBody.\n\nPromoted-From: staging\nImage-Digest: {DIGEST}\n",
        ),
        # a message that already ends in trailers gets the new ones in the same block
        (
            "Title\n\nSigned-off-by: A <a@x>",
            [Trailer("B", "2")],
            "Title\n\nSigned-off-by: A <a@x>\nB: 2\n",
        ),
    ],
)
def test_with_trailers(message: str, trailers: list[Trailer], expected: str) -> None:
    assert with_trailers(message, trailers) == expected


@pytest.mark.parametrize(
    "trailers",
    [
        [Trailer("Promoted-From", "staging")],
        [Trailer("Image-Digest", DIGEST), Trailer("Source-Commit", "a" * 40)],
        [Trailer("Gate-Evidence", "health=ok soak=2h smoke=3/3"), Trailer("Gate-Evidence", "x")],
    ],
)
@pytest.mark.parametrize("message", ["Title", "Title\n\nA body\nof two lines."])
def test_formatted_trailers_parse_back(message: str, trailers: list[Trailer]) -> None:
    assert parse_trailers(with_trailers(message, trailers)) == tuple(trailers)


@pytest.mark.parametrize(
    ("key", "value"),
    [("", "x"), ("Has Space", "x"), ("-Lead", "x"), ("Colon:", "x"), ("K", ""), ("K", "a\nb")],
)
def test_invalid_trailers_are_refused(key: str, value: str) -> None:
    with pytest.raises(ValueError, match="trailer"):
        Trailer(key, value)


@pytest.mark.parametrize("message", ["", "  \n\n"])
def test_a_message_needs_a_title(message: str) -> None:
    with pytest.raises(ValueError, match="title"):
        with_trailers(message, [Trailer("A", "1")])


def test_values_by_key_are_case_insensitive() -> None:
    trailers = parse_trailers("T\n\nImage-Digest: one\nimage-digest: two\nOther: x\n")

    assert trailer_values(trailers, "IMAGE-DIGEST") == ("one", "two")
    assert trailer_values(trailers, "Missing") == ()
