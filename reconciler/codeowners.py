"""GitHub's documented CODEOWNERS semantics, as a pure function of the file text.

Patterns follow gitignore with GitHub's exceptions: no `!` negation and no `[ ]` ranges
(such lines are invalid and skipped, as GitHub does); `\\#` escapes a leading `#`; `*` does
not cross `/` and `**` does; a `/` at the start or in the middle anchors the pattern to the
repo root; a trailing `/` means a folder and everything below it; a pattern whose last part
has a wildcard (`docs/*`) matches those entries only, not what is nested below them. The
last matching line wins, and a line without owners leaves its paths unowned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

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
ANY = None
Glob = tuple[str | None, ...]


@dataclass(frozen=True)
class Rule:
    """One valid line: its pattern, owners (possibly none) and the globs it compiles to."""

    line: int
    pattern: str
    owners: tuple[str, ...]
    glob: Glob

    def matches(self, path: str) -> bool:
        """True when this rule's pattern covers ``path`` (repo-relative, no leading /)."""
        return _matches(self.glob, path)


@dataclass(frozen=True)
class LineError:
    """A line GitHub would reject and skip."""

    line: int
    message: str


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
            error = LineError(0, f"{location} is {len(data):,} bytes; GitHub ignores 3 MB or more")
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
        problem = _pattern_problem(pattern) or _owner_problem(owners)
        if problem:
            errors.append(LineError(number, problem))
            continue
        rules.append(Rule(number, pattern, owners, _compile(pattern)))
    return CodeOwners(source, tuple(rules), tuple(errors))


def _tokens(line: str) -> list[str]:
    """Whitespace-separated tokens up to a comment; ``\\#`` and ``\\ `` are literal."""
    tokens: list[str] = []
    current = ""
    escaped = False
    for ch in line.strip():
        if escaped:
            current += ch
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


def _pattern_problem(pattern: str) -> str | None:
    if pattern.startswith("!"):
        return f'"{pattern}": negation with ! is not supported in CODEOWNERS'
    if "[" in pattern or "]" in pattern:
        return f'"{pattern}": character ranges with [ ] are not supported in CODEOWNERS'
    return None


def _owner_problem(owners: tuple[str, ...]) -> str | None:
    for owner in owners:
        if not _OWNER.match(owner):
            return f'"{owner}" is not an owner (@user, @org/team or an email address)'
    return None


def _compile(pattern: str) -> Glob:
    folder_only = pattern.endswith("/")
    body = pattern.strip("/")
    anchored = "/" in pattern.rstrip("/")
    segments = body.split("/") if body else ["**"]
    parts: list[str | None] = [] if anchored else [ANY]
    for index, segment in enumerate(segments):
        if segment != "**":
            parts.append(segment)
        elif index == len(segments) - 1 and index > 0:
            parts.extend(("*", ANY))  # a trailing "/**": one segment or more below
        else:
            parts.append(ANY)
    last_segment = segments[-1]
    wildcard_tail = last_segment != "**" and ("*" in last_segment or "?" in last_segment)
    if folder_only or not wildcard_tail:
        parts.append(ANY)  # a folder covers everything below it
    return tuple(parts)


def _matches(glob: Glob, path: str) -> bool:
    return _wildcard(glob, path.split("/"), _fnmatch)


def _fnmatch(glob: str | None, segment: str) -> bool:
    """One segment against one glob, where ``*`` is any run of characters, ``?`` one."""
    assert glob is not None  # ANY is handled by _wildcard
    return _wildcard(tuple(None if c == "*" else c for c in glob), segment, _char)


def _char(glob: str | None, char: str) -> bool:
    return glob in ("?", char)


def _wildcard(
    pattern: Sequence[str | None], items: Sequence[str], one: Callable[[str | None, str], bool]
) -> bool:
    """Whether ``items`` match ``pattern``: None is any run of items, others match one."""
    p = i = 0
    resume: tuple[int, int] | None = None  # after the last None: (pattern, item) to retry
    while i < len(items):
        if p < len(pattern) and pattern[p] is not None and one(pattern[p], items[i]):
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

    Handles are compared without regard to case, as GitHub compares logins. Every part that
    decides whether an approval counts (planning, the local forge, the test fake) asks here.
    """
    me = who.casefold()
    for owner in owners:
        if owner.casefold() == me:
            return True
        if any(member.casefold() == me for member in teams.get(owner, ())):
            return True
    return False
