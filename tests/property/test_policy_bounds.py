"""policy.bounds.check jumps from one character that matters to the next; it must find
exactly what a reading of every character finds: the same first excess, at the same line
and column, through strings, escapes and comments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.policy import bounds
from tests import figures


def reference(text: str) -> tuple[int, int, str] | None:
    """The first excess, read one character at a time (the rules of docs/policy.md's
    limits, written out plainly)."""
    depth = dots = 0
    line, line_start, i = 1, 0, 0
    while i < len(text):
        char = text[i]
        if char in "\"'":
            i, line, line_start = _past_string(text, i, line, line_start)
            continue
        if char == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        if char in "=,\n[]{}":
            dots = 0
        if char == "\n":
            line, line_start = line + 1, i + 1
        elif char in "[{":
            depth += 1
            if depth > bounds.MAX_NESTING:
                return line, i - line_start + 1, "nest"
        elif char in "]}":
            depth = max(0, depth - 1)
        elif char == ".":
            dots += 1
            if dots >= bounds.MAX_KEY_PARTS:
                return line, i - line_start + 1, "dotted"
        i += 1
    return None


def _past_string(text: str, start: int, line: int, line_start: int) -> tuple[int, int, int]:
    quote = text[start]
    delimiter = quote * 3 if text.startswith(quote * 3, start) else quote
    i = start + len(delimiter)
    while i < len(text):
        if text[i] == "\\" and quote == '"':
            if text.startswith("\n", i + 1):
                line, line_start = line + 1, i + 2
            i += 2
            continue
        if text[i] == "\n":
            if len(delimiter) == 1:
                return i, line, line_start
            line, line_start = line + 1, i + 1
        elif text.startswith(delimiter, i):
            i += len(delimiter)
            extra = 0
            while len(delimiter) == 3 and extra < 2 and text.startswith(quote, i):
                i, extra = i + 1, extra + 1
            return i, line, line_start
        i += 1
    return i, line, line_start


def found(text: str) -> tuple[int, int, str] | None:
    excess = bounds.check(text)
    if excess is None:
        return None
    return excess.line, excess.column, "nest" if "nest" in excess.message else "dotted"


CASES = [
    ("plain policy", 'version = 1\n[apps.a]\nimage = "r.io/a"\n', None),
    ("33 arrays", "x = " + "[" * 33, (1, 37, "nest")),
    ("32 arrays", "x = " + "[" * 32, None),
    ("brackets in a string", 'x = "' + "[" * 40 + '"\n', None),
    ("brackets in a literal", "x = '" + "[" * 40 + "'\n", None),
    ("brackets in a comment", "# " + "{" * 40 + "\nx = 1\n", None),
    ("escaped quote keeps the string open", 'x = "\\"' + "[" * 40 + '"', None),
    ("a backslash in a literal ends nothing", "x = '\\'" + "[" * 33, (1, 40, "nest")),
    ("unterminated string ends at the line", 'x = "abc\ny = ' + "[" * 33, (2, 37, "nest")),
    ("multi-line string counts its lines", 'x = """a\nb\n"""\n' + "[" * 33, (4, 33, "nest")),
    ("five quotes close a multi-line string", 'x = """a"""""\n' + "[" * 33, (2, 33, "nest")),
    ("line-ending backslash", 'x = """a\\\nb"""\n' + "{" * 33, (3, 33, "nest")),
    ("32 dots", "a" + ".a" * 32 + " = 1\n", (1, 64, "dotted")),
    ("31 dots", "a" + ".a" * 31 + " = 1\n", None),
    ("dots reset at =", "a.a = 1.5\n" * 40, None),
    ("a quoted dotted part", 'a."b.c".d = 1\n', None),
]


@pytest.mark.parametrize(("case", "text", "expected"), CASES, ids=[c for c, _, _ in CASES])
def test_check_finds_the_first_excess(case: str, text: str, expected: object) -> None:
    assert found(text) == expected
    assert reference(text) == expected


@settings(max_examples=figures.examples(500), deadline=None)
@given(st.text(st.sampled_from(list("[]{}.=,\n#\"'\\ ab")), max_size=400))
def test_check_reads_as_every_character_would(text: str) -> None:
    assert found(text) == reference(text)
