"""Line and column of every key and value in a TOML document.

tomllib returns plain dicts with no positions, so this scanner walks the same text a second
time and records where each key path starts. It runs only on text tomllib has accepted,
which keeps it small: it follows TOML's structure (tables, arrays of tables, dotted keys,
inline tables, arrays, the four string forms) and skips over scalar values.
"""

from __future__ import annotations

import bisect
import contextlib
import tomllib
from dataclasses import dataclass

PathPart = str | int
Path = tuple[PathPart, ...]

_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, order=True)
class Span:
    """A 1-based line and column (in characters) in the source text."""

    line: int
    column: int


@dataclass(frozen=True)
class Location:
    """Where a key was written and where its value starts (None for a table header)."""

    key: Span
    value: Span | None


START = Span(1, 1)


class PositionIndex:
    """Maps key paths such as ("environments", "prod", "follows") to source positions."""

    def __init__(self, entries: dict[Path, Location]) -> None:
        self._entries = entries

    def __contains__(self, path: Path) -> bool:
        return path in self._entries

    def get(self, path: Path) -> Location | None:
        """The exact location of ``path``, if it was written."""
        return self._entries.get(path)

    def key(self, path: Path) -> Span:
        """Where ``path``'s key was written, or its nearest written ancestor's."""
        for n in range(len(path), 0, -1):
            loc = self._entries.get(path[:n])
            if loc is not None:
                return loc.key
        return START

    def value(self, path: Path) -> Span:
        """Where ``path``'s value starts, falling back to its key, then to an ancestor."""
        loc = self._entries.get(path)
        if loc is not None:
            return loc.value or loc.key
        return self.key(path)

    def paths(self) -> list[Path]:
        """Every recorded path, in source order."""
        return sorted(self._entries, key=lambda p: self._entries[p].key)


class _ScanError(Exception):
    pass


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.n = len(text)
        self._line_starts = [0] + [k + 1 for k, ch in enumerate(text) if ch == "\n"]
        self.entries: dict[Path, Location] = {}

    # -- positions ---------------------------------------------------------------------
    def span(self, index: int) -> Span:
        line = bisect.bisect_right(self._line_starts, index)
        return Span(line, index - self._line_starts[line - 1] + 1)

    def record(self, path: Path, key: Span, value: Span | None) -> None:
        if path not in self.entries:
            self.entries[path] = Location(key, value)

    # -- low level -----------------------------------------------------------------------
    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < self.n else ""

    def skip_blank(self, *, newlines: bool) -> None:
        while self.i < self.n:
            ch = self.text[self.i]
            if ch in " \t" or (newlines and ch in "\r\n"):
                self.i += 1
            elif ch == "#":
                while self.i < self.n and self.text[self.i] != "\n":
                    self.i += 1
            else:
                return

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise _ScanError(f"expected {ch!r} at {self.span(self.i)}")
        self.i += 1

    # -- keys ----------------------------------------------------------------------------
    def key_parts(self) -> list[tuple[str, Span]]:
        parts: list[tuple[str, Span]] = []
        while True:
            self.skip_blank(newlines=False)
            start = self.i
            ch = self.peek()
            if ch in ('"', "'"):
                raw_end = self.string_end(start)
                raw = self.text[start:raw_end]
                self.i = raw_end
                parts.append((tomllib.loads("k = " + raw)["k"], self.span(start)))
            else:
                while self.i < self.n and self.text[self.i] in _BARE_KEY:
                    self.i += 1
                if self.i == start:
                    raise _ScanError(f"expected a key at {self.span(start)}")
                parts.append((self.text[start : self.i], self.span(start)))
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.i += 1

    # -- values --------------------------------------------------------------------------
    def string_end(self, start: int) -> int:
        """Index just past the string literal that starts at ``start``."""
        quote = self.text[start]
        if self.text.startswith(quote * 3, start):
            j = start + 3
            while j < self.n:
                if quote == '"' and self.text[j] == "\\":
                    j += 2
                    continue
                if self.text.startswith(quote * 3, j):
                    run = j
                    while run < self.n and self.text[run] == quote:
                        run += 1
                    # Up to two quotes directly before the closing three belong to the content.
                    return run
                j += 1
            raise _ScanError("unterminated multi-line string")
        j = start + 1
        while j < self.n:
            ch = self.text[j]
            if quote == '"' and ch == "\\":
                j += 2
                continue
            if ch == quote:
                return j + 1
            if ch == "\n":
                break
            j += 1
        raise _ScanError("unterminated string")

    def value(self, path: Path) -> None:
        ch = self.peek()
        if ch in ('"', "'"):
            self.i = self.string_end(self.i)
        elif ch == "[":
            self.array(path)
        elif ch == "{":
            self.inline_table(path)
        else:
            start = self.i
            while self.i < self.n and self.text[self.i] not in ",]}#\r\n":
                self.i += 1
            if self.i == start:
                raise _ScanError(f"expected a value at {self.span(start)}")

    def array(self, path: Path) -> None:
        self.expect("[")
        index = 0
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "]":
                self.i += 1
                return
            here = self.span(self.i)
            self.record((*path, index), here, here)
            self.value((*path, index))
            index += 1
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.i += 1

    def inline_table(self, path: Path) -> None:
        self.expect("{")
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "}":
                self.i += 1
                return
            self.keyval(path)
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.i += 1

    def keyval(self, table: Path) -> None:
        parts = self.key_parts()
        path = table
        for name, where in parts[:-1]:
            path = (*path, name)
            self.record(path, where, None)
        path = (*path, parts[-1][0])
        self.skip_blank(newlines=False)
        self.expect("=")
        self.skip_blank(newlines=False)
        self.record(path, parts[-1][1], self.span(self.i))
        self.value(path)

    # -- document ------------------------------------------------------------------------
    def document(self) -> None:
        table: Path = ()
        aot_counts: dict[Path, int] = {}
        while True:
            self.skip_blank(newlines=True)
            if self.i >= self.n:
                return
            if self.peek() != "[":
                self.keyval(table)
                continue
            start = self.i
            is_array = self.peek(1) == "["
            self.i += 2 if is_array else 1
            parts = self.key_parts()
            self.expect("]")
            if is_array:
                self.expect("]")
            resolved: Path = ()
            for k, (name, where) in enumerate(parts):
                resolved = (*resolved, name)
                last = k == len(parts) - 1
                if last and is_array:
                    index = aot_counts.get(resolved, 0)
                    aot_counts[resolved] = index + 1
                    self.record(resolved, where, None)
                    resolved = (*resolved, index)
                    self.record(resolved, self.span(start), None)
                elif resolved in aot_counts:
                    resolved = (*resolved, aot_counts[resolved] - 1)
                elif not last:
                    self.record(resolved, where, None)
            if not is_array:
                self.record(resolved, self.span(start), None)
            table = resolved


def index_positions(text: str) -> PositionIndex:
    """Positions of every key path in ``text``, which tomllib must already have accepted.

    If the scanner meets something it does not understand, the paths it recorded so far
    are kept; callers then fall back to the nearest recorded ancestor.
    """
    scanner = _Scanner(text)
    with contextlib.suppress(_ScanError, tomllib.TOMLDecodeError):
        scanner.document()
    return PositionIndex(scanner.entries)


def first_header(text: str, path: Path) -> Span | None:
    """Where ``path`` is first declared in ``text``, which may be invalid TOML past that point."""
    scanner = _Scanner(text)
    with contextlib.suppress(_ScanError, tomllib.TOMLDecodeError, IndexError):
        scanner.document()
    loc = scanner.entries.get(path)
    return loc.key if loc else None
