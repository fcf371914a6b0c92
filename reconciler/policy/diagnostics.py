"""Problems found in a policy, each tied to a key path, and their FILE:LINE:COL form."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from reconciler.policy.positions import Path, PositionIndex, Span


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem, shown to users as ``FILE:LINE:COL: message``."""

    file: str
    line: int
    column: int
    message: str
    rule: str

    def __str__(self) -> str:
        # One line per problem, whatever a quoted key in the file contains.
        message = self.message.replace("\r", "\\r").replace("\n", "\\n")
        return f"{self.file}:{self.line}:{self.column}: {message}"

    def as_json(self) -> dict[str, object]:
        """The ``--json`` form."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "rule": self.rule,
        }


Anchor = Literal["key", "value"]


@dataclass(frozen=True)
class Problem:
    """A problem before positions are known: the key path and which end of it to point at."""

    path: Path
    anchor: Anchor
    message: str
    rule: str
    at: Span | None = None  # an explicit position, for problems found before parsing


class Problems:
    """Collects problems while a policy is decoded and checked, so all are reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.bad: set[Path] = set()

    def add(self, path: Path, message: str, rule: str, anchor: Anchor = "value") -> None:
        """Record a problem with the value (or key) at ``path``; marks the path bad."""
        self.items.append(Problem(path, anchor, message, rule))
        self.bad.add(path)

    def add_at(self, at: Span, message: str, rule: str) -> None:
        """Record a problem at a known position (syntax errors, size, encoding)."""
        self.items.append(Problem((), "key", message, rule, at))

    def is_bad(self, path: Path) -> bool:
        """True when ``path`` or one of its ancestors already has a problem."""
        return any(path[:n] in self.bad for n in range(len(path), 0, -1))

    def touches(self, path: Path) -> bool:
        """True when ``path``, an ancestor or a descendant of it has a problem."""
        return any(bad[: len(path)] == path or path[: len(bad)] == bad for bad in self.bad)

    def __bool__(self) -> bool:
        return bool(self.items)

    def diagnostics(self, file: str, positions: PositionIndex) -> list[Diagnostic]:
        """Attach positions; sorted by line and column, duplicates dropped."""
        out = set()
        for p in self.items:
            where = p.at or (
                positions.key(p.path) if p.anchor == "key" else positions.value(p.path)
            )
            out.add(Diagnostic(file, where.line, where.column, p.message, p.rule))
        return sorted(out)


def suggest(name: str, candidates: Iterable[str], *, listing: bool = True) -> str:
    """``'; did you mean "x"?'`` for the closest candidate, else (``listing``) a short list."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    if close:
        return f'; did you mean "{close[0]}"?'
    if listing and 0 < len(pool) <= 8:
        return "; defined: " + ", ".join(f'"{c}"' for c in pool)
    return ""


def table_name(path: Path) -> str:
    """``("environments", "prod")`` -> ``[environments.prod]``, for messages."""
    if not path:
        return "the top level"
    shown: list[str] = []
    for part in path:
        if isinstance(part, int):
            shown[-1] += f"[{part}]"
        elif part.replace("-", "").replace("_", "").isalnum():
            shown.append(part)
        else:
            shown.append(f'"{part}"')
    return "[" + ".".join(shown) + "]"


def key_name(path: Path) -> str:
    """``("environments", "prod", "follows")`` -> ``environments.prod.follows``."""
    return table_name(path)[1:-1] if path else ""
