"""GitHub's documented CODEOWNERS semantics, as a pure function of the file text.

Patterns follow gitignore with GitHub's exceptions: no `!` negation and no `[ ]` ranges
(such lines are invalid and skipped, as GitHub does). A backslash makes the next character
literal (`\\#`, `\\ `, `\\*`, `\\?`, `\\[`). `*` does not cross `/` and `**` does; a `/` at
the start or in the middle anchors the pattern to the repo root, otherwise it matches a name
at any depth. Paths are files: a pattern owns a file when it matches the file itself or
any folder above it, so a folder's pattern owns everything below; a trailing `/` matches
folders only, never a file of that name; a pattern ending in `/*` (`docs/*`) owns the
entries directly in that folder, not what is nested deeper. The last matching line wins,
and a line without owners leaves its paths unowned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

# Where GitHub looks, in its order; the first file found is the only one used.
LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
MAX_BYTES = 3 * 1024 * 1024  # GitHub does not load a CODEOWNERS file of 3 MB or more

_OWNER = re.compile(
    r"^(?:@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9._-]+)?"
    r"|[^@\s]+@[^@\s]+\.[^@\s]+)$"
)

# A pattern compiles to one glob per path segment, with ANY standing for any number of
# segments (zero included). Matching is the greedy wildcard algorithm with one resume
# point, at both levels: time is bounded by pattern length x path length, whatever the
# pattern (a regex of many "*" or "**" backtracks exponentially on a near miss).
_T = TypeVar("_T")
ANY = None
ONE = ""  # in a segment's glob: "?", any one character (literal characters are 1 long)
Segment = tuple[str | None, ...]  # one path segment's glob: characters, ONE, ANY ("*")
Glob = tuple[Segment | None, ...]  # segments, ANY ("**") standing for any number of them


@dataclass(frozen=True)
class Rule:
    """One valid line: its pattern, owners (possibly none) and the globs it compiles to."""

    line: int
    pattern: str
    owners: tuple[str, ...]
    glob: Glob
    folders_only: bool = False  # a trailing "/": matches folders, never a file itself
    direct_only: bool = False  # a trailing "/*": the folder's own entries, nothing deeper

    def matches(self, path: str) -> bool:
        """True when this rule's pattern covers the file ``path`` (repo-relative)."""
        parts = path.split("/")
        if not self.folders_only and _wildcard(self.glob, parts, _segment):
            return True
        if self.direct_only:
            return False
        # A folder above the file matched: its pattern owns everything below it.
        return any(_wildcard(self.glob, parts[:depth], _segment) for depth in range(1, len(parts)))


# GitHub's kinds; "Unknown owner" needs the forge's knowledge of accounts (its errors endpoint).
ErrorKind = Literal["Invalid pattern", "Invalid owner", "Unknown owner", "File too large"]


@dataclass(frozen=True)
class LineError:
    """A line GitHub would reject and skip, in the terms of its CODEOWNERS errors endpoint:
    ``kind`` at ``line`` and ``column`` (1-based), ``message`` the detail and
    ``suggestion`` GitHub's advice where it gives one."""

    line: int
    message: str
    kind: ErrorKind = "Invalid pattern"
    column: int = 1
    source: str = ""  # the line as written
    suggestion: str | None = None

    def pointed(self) -> str:
        """The line as written with a caret under the column, as GitHub shows it."""
        return f"  {self.source}\n  {' ' * (self.column - 1)}^" if self.source else ""

    def as_github(self, path: str) -> dict[str, object]:
        """This error as one item of GitHub's ``GET /repos/{o}/{r}/codeowners/errors``."""
        head = f"{self.kind} on line {self.line}:" + (
            f" {self.suggestion}" if self.suggestion else ""
        )
        return {
            "line": self.line,
            "column": self.column,
            "kind": self.kind,
            "source": self.source,
            "suggestion": self.suggestion,
            "message": f"{head}\n\n{self.pointed()}" if self.source else head,
            "path": path,
        }


@dataclass(frozen=True)
class CodeOwners:
    """A parsed CODEOWNERS file (``source`` is its path, or None when there is none)."""

    source: str | None
    rules: tuple[Rule, ...]
    errors: tuple[LineError, ...]

    def rule_for(self, path: str) -> Rule | None:
        """The last rule matching ``path``, or None."""
        clean = path.strip("/")
        for rule in reversed(self.rules):
            if rule.matches(clean):
                return rule
        return None

    def owners_of(self, path: str) -> tuple[str, ...]:
        """The owners of ``path``; empty when no line covers it or the last one has none."""
        rule = self.rule_for(path)
        return rule.owners if rule else ()


NONE = CodeOwners(None, (), ())


def find(read: Callable[[str], bytes | None]) -> CodeOwners:
    """The CODEOWNERS GitHub would use, given a reader of files on the base branch."""
    for location in LOCATIONS:
        data = read(location)
        if data is None:
            continue
        if len(data) >= MAX_BYTES:
            error = LineError(
                0,
                f"{location} is {len(data):,} bytes; GitHub ignores 3 MB or more",
                kind="File too large",
            )
            return CodeOwners(location, (), (error,))
        return parse(data.decode("utf-8", errors="replace"), location)
    return NONE


def parse(text: str, source: str = "CODEOWNERS") -> CodeOwners:
    """Parse CODEOWNERS text; invalid lines are reported and skipped."""
    rules: list[Rule] = []
    errors: list[LineError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = _tokens(raw)
        if not tokens:
            continue
        pattern, owners = tokens[0], tuple(tokens[1:])
        problem = _pattern_problem(number, raw, pattern) or _owner_problem(number, raw, owners)
        if problem:
            errors.append(problem)
            continue
        rules.append(_rule(number, pattern, owners))
    return CodeOwners(source, tuple(rules), tuple(errors))


def _tokens(line: str) -> list[str]:
    """Whitespace-separated tokens up to a comment. A backslash and the character after it
    stay in the token (the pattern compiler reads them as a literal): ``\\ `` does not
    split, ``\\#`` does not start a comment."""
    tokens: list[str] = []
    current = ""
    escaped = False
    for ch in line.strip():
        if escaped:
            current += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "#" and not current:
            break  # a comment: the whole line, or after owners
        elif ch.isspace():
            if current:
                tokens.append(current)
                current = ""
        else:
            current += ch
    if current:
        tokens.append(current)
    return tokens


def _pattern_problem(number: int, raw: str, pattern: str) -> LineError | None:
    column = len(raw) - len(raw.lstrip()) + 1
    source = raw.rstrip()
    if pattern.startswith("!"):
        detail = f'"{pattern}": negation with ! is not supported in CODEOWNERS'
    elif any(c in "[]" for c in _unescaped(pattern)):
        detail = f'"{pattern}": character ranges with [ ] are not supported in CODEOWNERS'
    elif pattern == "/":
        # GitHub's own example of a suggestion (REST "List CODEOWNERS errors").
        return LineError(
            number,
            '"/" names no file or folder',
            column=column,
            source=source,
            suggestion="The pattern `/` will never match anything, did you mean `*` instead?",
        )
    else:
        return None
    return LineError(number, detail, column=column, source=source)


def _unescaped(pattern: str) -> str:
    """The pattern's characters that are not escaped by a backslash."""
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


def _owner_problem(number: int, raw: str, owners: tuple[str, ...]) -> LineError | None:
    for owner in owners:
        if not _OWNER.match(owner):
            return LineError(
                number,
                f'"{owner}" is not an owner (@user, @org/team or an email address)',
                kind="Invalid owner",
                column=_column_of(raw, owner),
                source=raw.rstrip(),
            )
    return None


def _column_of(raw: str, owner: str) -> int:
    """The 1-based column of ``owner`` among the line's owners (never inside the pattern)."""
    gap = re.search(r"(?<!\\)\s", raw.lstrip())  # the first unescaped blank ends the pattern
    start = len(raw) - len(raw.lstrip()) + (gap.start() if gap else 0)
    found = raw.find(owner, start)
    return found + 1 if found >= 0 else 1


def _rule(line: int, pattern: str, owners: tuple[str, ...]) -> Rule:
    segments = _split(pattern)
    folders_only = len(segments) > 1 and segments[-1] == ()  # a trailing "/"
    if folders_only:
        segments = segments[:-1]
    anchored = len(segments) > 1  # a "/" at the start or in the middle
    if segments and segments[0] == ():
        segments = segments[1:]  # the leading "/"
    # "/" alone names no file or folder: it matches nothing.
    glob: list[Segment | None] = [] if anchored or not segments else [ANY]
    for index, segment in enumerate(segments):
        if segment != _DOUBLE:
            glob.append(segment)
        elif index == len(segments) - 1 and index > 0 and not folders_only:
            glob.extend(((ANY,), ANY))  # a trailing "/**": one segment or more below
        else:
            glob.append(ANY)
    direct_only = anchored and not folders_only and segments[-1:] == [(ANY,)]
    return Rule(line, pattern, owners, tuple(glob), folders_only, direct_only)


_DOUBLE: Segment = (ANY, ANY)  # "**" as one segment's glob


def _split(pattern: str) -> list[Segment]:
    """The pattern's segments at unescaped "/", each compiled: ``*`` is ANY, ``?`` is ONE,
    an escaped character is itself. ``**`` alone is _DOUBLE."""
    segments: list[Segment] = []
    current: list[str | None] = []
    escaped = False
    for ch in pattern:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "/":
            segments.append(tuple(current))
            current = []
        else:
            current.append(ANY if ch == "*" else ONE if ch == "?" else ch)
    segments.append(tuple(current))
    return segments


def _segment(glob: Segment, name: str) -> bool:
    """One path segment against one segment's glob."""
    return _wildcard(glob, name, _char)


def _char(glob: str, char: str) -> bool:
    return glob in (ONE, char)


def _wildcard(
    pattern: Sequence[_T | None], items: Sequence[str], one: Callable[[_T, str], bool]
) -> bool:
    """Whether ``items`` match ``pattern``: None is any run of items, others match one."""
    p = i = 0
    resume: tuple[int, int] | None = None  # after the last None: (pattern, item) to retry
    while i < len(items):
        part = pattern[p] if p < len(pattern) else None
        if part is not None and one(part, items[i]):
            p, i = p + 1, i + 1
        elif p < len(pattern) and pattern[p] is None:
            resume = (p + 1, i)
            p += 1
        elif resume is not None:
            p, i = resume[0], resume[1] + 1  # the last None takes one more item
            resume = (p, i)
        else:
            return False
    return all(part is None for part in pattern[p:])


def is_owner(who: str, owners: Sequence[str], teams: Mapping[str, frozenset[str]]) -> bool:
    """Whether the handle ``who`` is one of ``owners``, itself or as a member of a listed team.

    Handles are compared without regard to case, as GitHub compares logins and team slugs.
    Every part that decides whether an approval counts (planning, the local forge, the test
    fake) asks here.
    """
    me = who.casefold()
    for owner in owners:
        if owner.casefold() == me:
            return True
        if any(member.casefold() == me for member in team_members(teams, owner) or ()):
            return True
    return False


def team_members(teams: Mapping[str, frozenset[str]], team: str) -> frozenset[str] | None:
    """The members ``teams`` lists for ``team``, its handle compared without regard to case
    (GitHub's org names and team slugs are case-insensitive); None when not listed."""
    if team in teams:
        return teams[team]
    wanted = team.casefold()
    return next((m for name, m in teams.items() if name.casefold() == wanted), None)
