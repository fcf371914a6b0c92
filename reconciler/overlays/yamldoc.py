"""YAML text -> a tree of nodes that know where they stand in the text (ruamel.yaml).

This is the only module that imports ruamel. Overlay editing never re-serialises a
document: it reads positions from this tree and replaces or inserts bytes in the original
text, so comments, quoting, indentation and blank lines stay exactly as they were.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode

from reconciler.errors import PolicyError

MAX_BYTES = 1024 * 1024
# Kustomize and Helm overlays nest a dozen levels at most; deeper documents are refused
# before they can exhaust Python's stack (ruamel composes recursively).
MAX_DEPTH = 64
# Nodes that aliases may add on top of the document's own: enough for any hand-written
# overlay, far below what an alias bomb ("billion laughs") expands to.
MAX_ALIAS_NODES = 10_000
BOM = "\ufeff"


# The nodes are named tuples, immutable as frozen dataclasses are: a read makes a dozen per
# overlay, 30,000 overlays at a cold start of 10,000 apps, and a tuple is built in C where a
# frozen dataclass's __init__ sets each field through object.__setattr__ (twice the time).
class Span(NamedTuple):
    """Where a node stands: character offsets [start, end) and its 1-based line and column."""

    start: int
    end: int
    line: int
    column: int


class YScalar(NamedTuple):
    """A scalar as written: its string value, quoting style ("", '"', "'", "|", ">")."""

    value: str
    style: str
    tag: str
    span: Span
    aliased: bool  # carries an anchor or is reached through an alias: editing it edits others


class YMap(NamedTuple):
    """A mapping; ``pairs`` keep the document's order."""

    pairs: tuple[tuple[YScalar, YNode], ...]
    flow: bool
    span: Span
    aliased: bool

    def get(self, key: str) -> YNode | None:
        """The value under ``key``, or None."""
        for k, v in self.pairs:
            if k.value == key:
                return v
        return None


class YSeq(NamedTuple):
    """A sequence."""

    items: tuple[YNode, ...]
    flow: bool
    span: Span
    aliased: bool


YNode = YScalar | YMap | YSeq


@dataclass(frozen=True)
class Document:
    """One YAML document: its text (BOM removed), the BOM flag, and its root node."""

    text: str
    root: YNode | None
    bom: bool
    newline: str  # "\r\n" when the file uses CRLF line ends

    def with_text(self, text: str) -> bytes:
        """Encode edited text the way the original was encoded (BOM kept)."""
        return ((BOM if self.bom else "") + text).encode("utf-8")


def decode(data: bytes, file: str) -> tuple[str, bool, str]:
    """An overlay's text (BOM removed), whether it had a BOM, and its line end; PolicyError
    for a file too large or not UTF-8."""
    if len(data) > MAX_BYTES:
        raise PolicyError(
            f"{file}: the file is {len(data):,} bytes; overlays over 1 MiB are refused"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyError(f"{file}:{line}: the file is not valid UTF-8; save it as UTF-8") from None
    bom = text.startswith(BOM)
    if bom:
        text = text[1:]
    newline = "\r\n" if "\r\n" in text else "\n"
    return text, bom, newline


def parse(data: bytes, file: str) -> Document:
    """Parse one YAML document; PolicyError with FILE:LINE:COL for anything unusable."""
    text, bom, newline = decode(data, file)
    yaml = YAML(typ="rt", pure=True)
    yaml.max_depth = MAX_DEPTH
    # YAML 1.2 lets an anchor be defined again (an alias means the latest), and kustomize
    # reads such files; ruamel would also print a ReusedAnchorWarning on stderr, outside
    # the daemon's logs.
    yaml.composer.warn_double_anchors = False
    try:
        roots = list(yaml.compose_all(io.StringIO(text)))
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise PolicyError(
            f"{where}: the document nests more than {MAX_DEPTH} levels deep; "
            "an overlay never needs this many, flatten it"
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        problem = exc.problem or exc.context or "invalid YAML"
        raise PolicyError(f"{where}: invalid YAML: {problem}") from None
    except YAMLError as exc:
        # A ReaderError (a character YAML forbids, such as NUL) has a position, not a mark.
        position = getattr(exc, "position", None)
        if isinstance(position, int) and 0 <= position < len(text):
            line = text.count("\n", 0, position) + 1
            column = position - text.rfind("\n", 0, position)
            raise PolicyError(
                f"{file}:{line}:{column}: invalid YAML: the character "
                f"U+{ord(text[position]):04X} is not allowed in YAML"
            ) from None
        raise PolicyError(f"{file}: invalid YAML: {exc}") from None
    return document(text, bom=bom, newline=newline, roots=roots, file=file)


def document(
    text: str,
    *,
    bom: bool,
    newline: str,
    roots: Sequence[Any],
    file: str,
    keep: Collection[str] | None = None,
) -> Document:
    """The Document of composed ``roots``: exactly one, or none (an empty file).

    Nodes are duck-typed (value, tag, style, flow_style, marks), so the composer of
    another YAML library can feed the same tree (see yamlread). With ``keep``, a root
    mapping holds only those keys (the rest is checked all the same, not converted): a
    reader that looks at one key need not pay for the whole tree.
    """
    roots = [r for r in roots if r is not None]
    if len(roots) > 1:
        raise PolicyError(
            f"{file}: holds {len(roots)} YAML documents; an overlay file must hold one"
        )
    if not roots:
        return Document(text, None, bom, newline)
    if "&" not in text:
        # No anchor, so no alias: no node is shared or expanded, and the counting and the
        # budget below have nothing to find (most overlays; reading 47,000 at a cold start).
        return Document(text, _unshared(roots[0], file, keep), bom, newline)
    counts: Counter[int] = Counter()
    _count(roots[0], counts, set(), file)
    budget = _Budget(len(counts) + MAX_ALIAS_NODES)
    return Document(text, _convert(roots[0], counts, file, budget=budget), bom, newline)


@dataclass
class _Budget:
    """How many more nodes converting may produce (aliases are expanded where they occur)."""

    left: int


def _count(node: Any, counts: Counter[int], path: set[int], file: str) -> None:
    counts[id(node)] += 1
    if counts[id(node)] > 1 or id(node) in path:
        return  # an alias: its children were counted where it was defined
    if _kind(node) in ("mapping", "sequence"):
        path = path | {id(node)}
        if len(path) > MAX_DEPTH:  # libyaml composes up to 1,000 levels; Python recursion won't
            mark = node.start_mark
            raise PolicyError(
                f"{file}:{mark.line + 1}:{mark.column + 1}: the document nests more than "
                f"{MAX_DEPTH} levels deep; an overlay never needs this many, flatten it"
            )
        for child in node.value:
            for part in child if isinstance(child, tuple) else (child,):
                _count(part, counts, path, file)


def _unshared(root: Any, file: str, keep: Collection[str] | None) -> YNode:
    """``root`` of a document without anchors as a YNode, checked as ``_convert`` checks
    (the same errors, the same one first); with ``keep``, a root mapping holds only those
    keys, the others checked but not converted."""
    problems: list[str] = []
    if keep is not None and _kind(root) == "mapping":
        pairs: list[tuple[Any, YNode]] = []  # a key that is no scalar is raised below
        seen: dict[str, int] = {}
        for key, value in root.value:
            converted = _plain(key, file, 2, problems)
            _note_converted(converted, file, seen, problems)
            if key.value in keep:
                pairs.append((converted, _plain(value, file, 2, problems)))
            else:
                _check(value, file, 2, problems)
        node: YNode = YMap(tuple(pairs), bool(root.flow_style), _span(root), aliased=False)
    else:
        node = _plain(root, file, 1, problems)
    if problems:
        raise PolicyError(problems[0])
    return node


def _check(node: Any, file: str, depth: int, problems: list[str]) -> None:
    """Raise at once for nesting past ``MAX_DEPTH`` (``_count`` finds it before anything
    else); collect a mapping's key errors in document order (``_convert``'s order)."""
    kind = _kind(node)
    if kind == "scalar":
        return
    if depth > MAX_DEPTH:
        raise _too_deep(file, node)
    if kind == "sequence":
        for child in node.value:
            _check(child, file, depth + 1, problems)
        return
    seen: dict[str, int] = {}
    for key, value in node.value:
        _check(key, file, depth + 1, problems)
        mark = key.start_mark
        text = str(key.value) if _kind(key) == "scalar" else None
        _note_key(text, (file, mark.line + 1, mark.column + 1), seen, problems)
        _check(value, file, depth + 1, problems)


def _plain(node: Any, file: str, depth: int, problems: list[str]) -> YNode:
    """``node`` of a document without anchors as a YNode, checked as ``_check`` checks in
    the same walk (a node under a problem may come out malformed: the caller raises)."""
    kind = _kind(node)
    if kind == "scalar":
        return _scalar(node)
    if depth > MAX_DEPTH:
        raise _too_deep(file, node)
    if kind == "sequence":
        items = tuple(_plain(child, file, depth + 1, problems) for child in node.value)
        return YSeq(items, bool(node.flow_style), _span(node), aliased=False)
    pairs: list[tuple[Any, YNode]] = []  # a key that is no scalar: the caller raises
    seen: dict[str, int] = {}
    for key, value in node.value:
        converted = _plain(key, file, depth + 1, problems)
        _note_converted(converted, file, seen, problems)
        pairs.append((converted, _plain(value, file, depth + 1, problems)))
    return YMap(tuple(pairs), bool(node.flow_style), _span(node), aliased=False)


def _note_converted(key: YNode, file: str, seen: dict[str, int], problems: list[str]) -> None:
    text = key.value if isinstance(key, YScalar) else None
    _note_key(text, (file, key.span.line, key.span.column), seen, problems)


def _note_key(
    text: str | None, at: tuple[str, int, int], seen: dict[str, int], problems: list[str]
) -> None:
    """Note a mapping key that is no scalar (``text`` None), or one ``seen`` before in its
    mapping; ``at``: the key's file, line and column."""
    file, line, column = at
    if text is not None and text not in seen:
        seen[text] = line
        return
    where = f"{file}:{line}:{column}"
    if text is None:
        problems.append(f"{where}: a mapping key that is not a scalar is not supported")
    else:
        problems.append(
            f'{where}: key "{text}" is repeated (first at line '
            f"{seen[text]}); YAML tools disagree on which one counts"
        )


def _too_deep(file: str, node: Any) -> PolicyError:
    mark = node.start_mark
    return PolicyError(
        f"{file}:{mark.line + 1}:{mark.column + 1}: the document nests more than "
        f"{MAX_DEPTH} levels deep; an overlay never needs this many, flatten it"
    )


def _scalar(node: Any) -> YScalar:
    return YScalar(str(node.value), node.style or "", str(node.tag), _span(node), aliased=False)


# ruamel's and PyYAML's node classes share names and shapes, not a base class.
_KINDS = {"ScalarNode": "scalar", "SequenceNode": "sequence", "MappingNode": "mapping"}


def _kind(node: Any) -> str:
    return _KINDS.get(type(node).__name__, "")


def _span(node: Any) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.index, end.index, start.line + 1, start.column + 1)


def _where(file: str, node: Any) -> str:
    return f"{file}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _convert(
    node: Any,
    counts: Counter[int],
    file: str,
    *,
    budget: _Budget,
    path: frozenset[int] = frozenset(),
    depth: int = 0,
) -> YNode:
    """``node`` as a YNode, ``depth`` levels down; ``path`` holds the anchored nodes above.

    Aliases are expanded where they occur, so the path and the budget bound what a
    hostile document can make of them: no cycle, no stack exhaustion, no exponential tree.
    """
    if id(node) in path:
        raise PolicyError(
            f"{_where(file, node)}: a YAML alias refers to a node that contains it, which "
            "never ends; write the value out instead"
        )
    if depth > MAX_DEPTH:
        raise PolicyError(
            f"{_where(file, node)}: through its aliases the document nests more than "
            f"{MAX_DEPTH} levels deep; an overlay never needs this many, write the values out"
        )
    budget.left -= 1
    if budget.left < 0:
        raise PolicyError(
            f"{_where(file, node)}: YAML aliases expand this document to more than "
            f"{MAX_ALIAS_NODES:,} extra nodes (an alias bomb such as 'billion laughs'?); "
            "write the values out or use fewer aliases"
        )
    aliased = bool(getattr(node, "anchor", None)) or counts[id(node)] > 1
    kind = _kind(node)
    if kind in ("sequence", "mapping"):
        path = path | {id(node)} if aliased else path
        depth += 1
    if kind == "scalar":
        return YScalar(str(node.value), node.style or "", str(node.tag), _span(node), aliased)
    if kind == "sequence":
        items = tuple(
            _convert(child, counts, file, budget=budget, path=path, depth=depth)
            for child in node.value
        )
        return YSeq(items, bool(node.flow_style), _span(node), aliased)
    if kind == "mapping":
        pairs = []
        seen: dict[str, int] = {}
        for key, value in node.value:
            converted_key = _convert(key, counts, file, budget=budget, path=path, depth=depth)
            if not isinstance(converted_key, YScalar):
                where = f"{file}:{converted_key.span.line}:{converted_key.span.column}"
                raise PolicyError(f"{where}: a mapping key that is not a scalar is not supported")
            if converted_key.value in seen:
                where = f"{file}:{converted_key.span.line}:{converted_key.span.column}"
                raise PolicyError(
                    f'{where}: key "{converted_key.value}" is repeated (first at line '
                    f"{seen[converted_key.value]}); YAML tools disagree on which one counts"
                )
            seen[converted_key.value] = converted_key.span.line
            pairs.append(
                (
                    converted_key,
                    _convert(value, counts, file, budget=budget, path=path, depth=depth),
                )
            )
        return YMap(tuple(pairs), bool(node.flow_style), _span(node), aliased)
    raise PolicyError(f"{file}: unsupported YAML node {type(node).__name__}")  # pragma: no cover


# Words and shapes that YAML 1.1 readers (still common in Kubernetes tooling) take for
# booleans, nulls or numbers; such strings are written quoted.
_YAML11_SPECIAL = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|~|null|Null|NULL|[-+]?[0-9_.:]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)"
    r"|0[xXoObB][0-9a-fA-F_]+)$"
)


def plain_is_safe(value: str) -> bool:
    """True when ``value`` written unquoted reads back as the same string in YAML 1.1 and 1.2."""
    if not value or value != value.strip() or any(c in value for c in "\n\r\t"):
        return False
    if _YAML11_SPECIAL.match(value):
        return False
    if value[0] in "!&*{}[],#|>@`\"'%-?:" and not (value[0] == "-" and value[1:2].isalnum()):
        return False
    if ": " in value or " #" in value or value.endswith(":"):
        return False
    node = YAML(typ="rt", pure=True).compose(io.StringIO(f"k: {value}\n"))
    if not isinstance(node, MappingNode) or len(node.value) != 1:
        return False
    scalar = node.value[0][1]
    return (
        isinstance(scalar, ScalarNode)
        and scalar.tag == "tag:yaml.org,2002:str"
        and scalar.value == value
    )
