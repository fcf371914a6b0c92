"""How deep a policy's TOML may nest, checked on the text before tomllib reads it.

tomllib reads nested arrays and inline tables recursively, so a few thousand ``[`` raise
RecursionError, and it handles dotted keys in time quadratic in their length, so a
megabyte of ``a.a.a...`` holds a cycle for hours. A policy needs a handful of levels;
``check`` refuses anything past generous limits, with the position of the first excess,
in one linear pass over the text that skips strings and comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A policy nests arrays/inline tables two or three deep and dots keys a few parts long.
MAX_NESTING = 32
MAX_KEY_PARTS = 32
_OPEN = "[{"
_CLOSE = "]}"
# A dotted key or float never spans one of these, so dots are counted between them.
_SEGMENT_ENDS = "=,\n[]{}"


@dataclass(frozen=True)
class Excess:
    """Where the text first goes past a limit (1-based line and column), and which."""

    line: int
    column: int
    message: str


# Only these characters change the count: the scan jumps from one to the next in C (a
# 10,000-app policy is 620 KB; a loop over each character took a fifth of a second).
_SPECIAL = re.compile(r"[\"'#=,\n\[\]{}.]")
_IN_STRING = {'"': re.compile(r'[\\\n"]'), "'": re.compile(r"[\n']")}


def check(text: str) -> Excess | None:
    """The first place ``text`` nests or dots keys past the limits, or None."""
    depth = 0
    dots = 0
    line, line_start = 1, 0
    size = len(text)
    found = _SPECIAL.search(text)
    while found is not None:
        i = found.start()
        char = text[i]
        if char in "\"'":
            i, line, line_start = _skip_string(text, i, line, line_start)
            found = _SPECIAL.search(text, i)
            continue
        if char == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
            found = _SPECIAL.search(text, i)
            continue
        if char in _SEGMENT_ENDS:
            dots = 0
        if char == "\n":
            line, line_start = line + 1, i + 1
        elif char in _OPEN:
            depth += 1
            if depth > MAX_NESTING:
                return Excess(
                    line,
                    i - line_start + 1,
                    f"arrays and inline tables nest more than {MAX_NESTING} levels deep here; "
                    "a policy needs a few, flatten it",
                )
        elif char in _CLOSE:
            depth = max(0, depth - 1)
        elif char == ".":
            dots += 1
            if dots >= MAX_KEY_PARTS:
                return Excess(
                    line,
                    i - line_start + 1,
                    f"this dotted key has more than {MAX_KEY_PARTS} parts; "
                    "a policy key needs a few, shorten it",
                )
        found = _SPECIAL.search(text, i + 1)
    return None


def _skip_string(text: str, start: int, line: int, line_start: int) -> tuple[int, int, int]:
    """Past the string opening at ``start`` (to the end of text when it never closes)."""
    quote = text[start]
    triple = text.startswith(quote * 3, start)
    delimiter = quote * 3 if triple else quote
    i = start + len(delimiter)
    size = len(text)
    stops = _IN_STRING[quote]
    while (found := stops.search(text, i)) is not None:
        i = found.start()
        char = text[i]
        if char == "\\":
            if text.startswith("\n", i + 1):  # a line-ending backslash in a """ string
                line, line_start = line + 1, i + 2
            i += 2  # an escape: the next character never ends the string
            continue
        if char == "\n":
            if not triple:
                return i, line, line_start  # unterminated: tomllib reports it
            line, line_start = line + 1, i + 1
        elif text.startswith(delimiter, i):
            i += len(delimiter)
            # A multi-line string may end with up to two extra quotes (""""" is legal).
            extra = 0
            while triple and extra < 2 and text.startswith(quote, i):
                i, extra = i + 1, extra + 1
            return i, line, line_start
        i += 1
    return size, line, line_start
