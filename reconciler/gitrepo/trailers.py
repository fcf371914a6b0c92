"""Git trailers (``Promoted-From: staging``): format them into a message, parse them back.

Parsing follows ``git interpret-trailers --parse`` for the messages the daemon meets: the
trailer block is the last paragraph of the message, never its first (the title); every line
of it is ``Key: value`` or a continuation line (leading whitespace) of the previous value;
a ``---`` divider line ends the message. Git also accepts blocks that are only a quarter
trailers when they hold a ``Signed-off-by:``; that leniency is not reproduced.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_LINE = re.compile(r"^([A-Za-z0-9-]+)[ \t]*:[ \t]*(.*)$")


@dataclass(frozen=True)
class Trailer:
    """One ``Key: value`` line at the end of a commit message."""

    key: str
    value: str

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"trailer key {self.key!r} must be letters, digits and '-'")
        if "\n" in self.value or "\r" in self.value or not self.value.strip():
            raise ValueError(f"trailer {self.key} needs a one-line, non-empty value")

    def __str__(self) -> str:
        return f"{self.key}: {self.value}"


def with_trailers(message: str, trailers: Sequence[Trailer]) -> str:
    """``message`` with ``trailers`` appended as git does: into its trailer block if it has one."""
    body = message.rstrip()
    if not body:
        raise ValueError("a commit message needs at least a title")
    if not trailers:
        return body + "\n"
    lines = "\n".join(str(t) for t in trailers)
    separator = "\n" if parse_trailers(body) else "\n\n"
    return f"{body}{separator}{lines}\n"


def parse_trailers(message: str) -> tuple[Trailer, ...]:
    """The trailers of ``message`` in order (a key may repeat); empty when it has none."""
    lines = _message_lines(message)
    while lines and not lines[-1].strip():
        lines.pop()
    start = len(lines)
    while start > 0 and lines[start - 1].strip():
        start -= 1
    if start == 0 or start == len(lines):
        return ()  # one paragraph only: the title is never a trailer block
    keys: list[str] = []
    values: list[str] = []
    for line in lines[start:]:
        if line[:1] in (" ", "\t") and keys:
            values[-1] = f"{values[-1]} {line.strip()}".strip()
            continue
        match = _LINE.match(line)
        if not match:
            return ()
        keys.append(match[1])
        values.append(match[2].strip())
    return tuple(_unchecked(key, value) for key, value in zip(keys, values, strict=True))


def trailer_values(trailers: Sequence[Trailer], key: str) -> tuple[str, ...]:
    """Every value of ``key`` (compared case-insensitively, as git does), in order."""
    wanted = key.lower()
    return tuple(t.value for t in trailers if t.key.lower() == wanted)


def _message_lines(message: str) -> list[str]:
    lines = message.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if line.startswith("---") and (len(line) == 3 or line[3] in " \t"):
            return lines[:index]
    return lines


def _unchecked(key: str, value: str) -> Trailer:
    # Parsed trailers keep what the message says, even values the formatter would refuse
    # (empty ones, keys starting with '-'): reading must never fail on someone else's commit.
    trailer = object.__new__(Trailer)
    object.__setattr__(trailer, "key", key)
    object.__setattr__(trailer, "value", value)
    return trailer
