"""Byte-exact edits of a text: replace or insert at offsets, everything else untouched."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Edit:
    """Replace ``text[start:end]`` with ``replacement`` (start == end inserts)."""

    start: int
    end: int
    replacement: str


def apply(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits; ValueError when two overlap (a bug, never user input)."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    out: list[str] = []
    cursor = 0
    for edit in ordered:
        if edit.start < cursor:
            raise ValueError(f"overlapping edits at offset {edit.start}")
        out.append(text[cursor : edit.start])
        out.append(edit.replacement)
        cursor = edit.end
    out.append(text[cursor:])
    return "".join(out)


def line_start(text: str, pos: int) -> int:
    """Offset of the first character of the line holding ``pos``."""
    return text.rfind("\n", 0, pos) + 1


def after_line(text: str, pos: int) -> int:
    """Offset just past the end of the line holding ``pos`` (past its newline, if any).

    A node that ends exactly at a line start (block scalars include their last newline)
    counts as ending on the previous line.
    """
    if pos > 0 and text[pos - 1] == "\n":
        return pos
    found = text.find("\n", pos)
    return len(text) if found < 0 else found + 1
