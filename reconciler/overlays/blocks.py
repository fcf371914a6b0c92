"""Edits of YAML mappings and lists, computed from node positions, in the file's own style.

Each function returns text edits (textedit.Edit) for the original text; nothing is
re-serialised. Values are written in the quoting style of the value they replace, or plain
when that reads back the same, otherwise double-quoted.
"""

from __future__ import annotations

import json

from reconciler.errors import PolicyError
from reconciler.overlays.textedit import Edit, after_line, line_start
from reconciler.overlays.yamldoc import Document, YMap, YNode, YScalar, YSeq, plain_is_safe

Pair = tuple[YScalar, YNode]
Entry = list[tuple[str, str]]


def render(value: str, like: YScalar | None = None) -> str:
    """``value`` as YAML text, in the style of ``like`` where that style can hold it."""
    style = like.style if like else ""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == "" and plain_is_safe(value):
        return value
    return json.dumps(value, ensure_ascii=False)  # JSON strings are YAML double-quoted scalars


def find_pair(node: YMap, key: str) -> Pair | None:
    """The (key, value) pair named ``key`` in ``node``."""
    for pair in node.pairs:
        if pair[0].value == key:
            return pair
    return None


def _where(file: str, node: YNode) -> str:
    return f"{file}:{node.span.line}:{node.span.column}"


def _is_null(node: YNode) -> bool:
    return isinstance(node, YScalar) and node.tag.endswith(":null")


def set_value(file: str, pair: Pair, value: str) -> list[Edit]:
    """Set ``pair``'s scalar value to ``value`` (non-empty), in its own quoting style."""
    key, node = pair
    if not isinstance(node, YScalar):
        raise PolicyError(f"{_where(file, node)}: {key.value} must be a string")
    if node.aliased:
        raise PolicyError(
            f"{_where(file, node)}: {key.value} uses a YAML anchor or alias; edit it by hand, "
            "since changing it here would change the other uses too"
        )
    if node.value == value and not _is_null(node):
        return []
    if node.span.start == node.span.end:  # `key:` with nothing after it
        return [Edit(node.span.start, node.span.end, " " + render(value))]
    like = None if _is_null(node) else node
    return [Edit(node.span.start, node.span.end, render(value, like))]


def remove_pairs(doc: Document, file: str, owner: YMap, doomed: list[Pair]) -> list[Edit]:
    """Remove ``doomed`` pairs from ``owner``, keeping the rest of the mapping intact."""
    for key, node in doomed:
        if node.aliased:
            raise PolicyError(
                f"{_where(file, node)}: {key.value} uses a YAML anchor or alias; edit it by "
                "hand, since changing it here would change the other uses too"
            )
    keep = [pair for pair in owner.pairs if pair not in doomed]
    if not keep:
        raise PolicyError(f"{_where(file, owner)}: cannot remove every key of this entry")
    edits: list[Edit] = []
    text = doc.text
    leading = []  # removed pairs before the first kept one
    for pair in owner.pairs:
        if pair is keep[0]:
            break
        leading.append(pair)
    first_key = owner.pairs[0][0]
    opens_line = text[line_start(text, first_key.span.start) : first_key.span.start].strip() != ""
    pull_up = bool(leading) and (owner.flow or opens_line)
    if pull_up:
        # `- key: value` or `{key: value, ...}`: pull the first kept key into the opening spot.
        edits.append(Edit(first_key.span.start, keep[0][0].span.start, ""))
    for pair in doomed:
        if pull_up and pair in leading:
            continue
        key, value = pair
        if owner.flow:
            before = owner.pairs[owner.pairs.index(pair) - 1]
            edits.append(Edit(before[1].span.end, value.span.end, ""))
        else:
            edits.append(
                Edit(line_start(text, key.span.start), after_line(text, value.span.end), "")
            )
    return sorted(set(edits))


def add_pairs(doc: Document, owner: YMap, pairs: Entry) -> Edit:
    """Insert ``pairs`` at the end of mapping ``owner``."""
    if owner.flow:
        body = ", ".join(f"{k}: {render(v)}" for k, v in pairs)
        if owner.pairs:
            end = owner.pairs[-1][1].span.end
            return Edit(end, end, ", " + body)
        return Edit(owner.span.end - 1, owner.span.end - 1, body)
    indent = " " * (owner.pairs[0][0].span.column - 1)
    lines = [f"{indent}{k}: {render(v)}" for k, v in pairs]
    return _insert_lines(doc, owner.pairs[-1][1].span.end, lines)


def _insert_lines(doc: Document, after: int, lines: list[str]) -> Edit:
    nl = doc.newline
    at = after_line(doc.text, after)
    prefix = nl if at == len(doc.text) and doc.text and not doc.text.endswith("\n") else ""
    return Edit(at, at, prefix + "".join(line + nl for line in lines))


def _dash_layout(doc: Document, seq: YSeq) -> tuple[int, int]:
    """(column of the dash, offset from dash to item) of a block list's first item."""
    item = seq.items[0]
    dash = doc.text.rfind("-", 0, item.span.start)
    return dash - line_start(doc.text, dash), item.span.start - dash


def _item_lines(entry: Entry, dash_col: int, offset: int) -> list[str]:
    lines = []
    for index, (key, value) in enumerate(entry):
        lead = (
            " " * dash_col + "-" + " " * (offset - 1) if index == 0 else " " * (dash_col + offset)
        )
        lines.append(f"{lead}{key}: {render(value)}")
    return lines


def list_indent(doc: Document) -> int:
    """How far this file indents a block list under its key (0 for `key:\\n- a`)."""
    root = doc.root
    if isinstance(root, YMap):
        for key, value in root.pairs:
            if isinstance(value, YSeq) and not value.flow and value.items:
                dash_col, _ = _dash_layout(doc, value)
                return max(0, dash_col - (key.span.column - 1))
    return 0


def append_to_list(
    doc: Document, file: str, key: str, seq: YSeq | YScalar | None, entries: list[Entry]
) -> Edit:
    """Append mapping ``entries`` to the root list ``key``, creating it where missing or null."""
    if isinstance(seq, YSeq) and seq.flow:
        body = ", ".join("{" + ", ".join(f"{k}: {render(v)}" for k, v in e) + "}" for e in entries)
        if seq.items:
            end = seq.items[-1].span.end
            return Edit(end, end, ", " + body)
        return Edit(seq.span.start + 1, seq.span.start + 1, body)
    if isinstance(seq, YSeq) and seq.items:
        dash_col, offset = _dash_layout(doc, seq)
        lines = [line for e in entries for line in _item_lines(e, dash_col, offset)]
        return _insert_lines(doc, seq.items[-1].span.end, lines)
    root = doc.root
    if root is not None and not isinstance(root, YMap):  # pragma: no cover - callers check
        raise PolicyError(f"{file}: the document must be a mapping")
    if root is not None and root.flow:
        raise PolicyError(
            f"{_where(file, root)}: the file is one flow mapping ({{...}}); write it in block "
            f"style to let {key} be added"
        )
    indent = list_indent(doc)
    items = [line for e in entries for line in _item_lines(e, indent, 2)]
    pair = find_pair(root, key) if root is not None else None
    if pair is not None:  # `key:` or `key: null` with no list yet
        key_node, null = pair
        assert isinstance(null, YScalar)  # _images_node accepts only a list or a null here
        edits_text = [f"{' ' * (key_node.span.column - 1)}{line}" for line in items]
        if null.span.start != null.span.end:
            # Replace the null with nothing and put the list on the lines below.
            return _replace_then_insert(doc, null, edits_text)
        return _insert_lines(doc, key_node.span.end, edits_text)
    if root is None or not root.pairs:
        return _insert_lines(doc, len(doc.text), [f"{key}:", *items])
    return _insert_lines(doc, root.pairs[-1][1].span.end, [f"{key}:", *items])


def _replace_then_insert(doc: Document, null: YScalar, lines: list[str]) -> Edit:
    # One edit covering the null and the rest of its line, so edits never overlap.
    end = after_line(doc.text, null.span.end)
    tail = doc.text[null.span.end : end]
    comment = tail.rstrip("\r\n")
    nl = doc.newline
    head = doc.text[line_start(doc.text, null.span.start) : null.span.start].rstrip()
    replacement = comment.strip()
    rebuilt = (" " + replacement if replacement else "") + nl + "".join(x + nl for x in lines)
    start = line_start(doc.text, null.span.start) + len(head)
    return Edit(start, end, rebuilt)


def map_indent(doc: Document) -> int:
    """How far this file indents a nested block mapping under its key (2 if none)."""
    stack: list[YNode] = [doc.root] if doc.root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, YMap) and not node.flow:
            for key, value in node.pairs:
                if isinstance(value, YMap) and not value.flow and value.pairs:
                    return max(1, value.pairs[0][0].span.column - key.span.column)
                stack.append(value)
    return 2


Tree = dict[str, "Tree | str"]


def _tree(items: list[tuple[list[str], str]]) -> Tree:
    root: Tree = {}
    for path, value in items:
        node = root
        for part in path[:-1]:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node[path[-1]] = value
    return root


def _tree_lines(tree: Tree, indent: int, unit: int) -> list[str]:
    lines = []
    for key, value in tree.items():
        if isinstance(value, dict):
            lines.append(f"{' ' * indent}{key}:")
            lines += _tree_lines(value, indent + unit, unit)
        else:
            lines.append(f"{' ' * indent}{key}: {render(value)}")
    return lines


def _tree_flow(tree: Tree) -> str:
    return ", ".join(
        f"{k}: {{{_tree_flow(v)}}}" if isinstance(v, dict) else f"{k}: {render(v)}"
        for k, v in tree.items()
    )


def add_tree(
    doc: Document, file: str, parent: YMap | None, items: list[tuple[list[str], str]]
) -> list[Edit]:
    """Add nested keys (``items``: paths below ``parent`` and their values) to ``parent``."""
    tree = _tree(items)
    unit = map_indent(doc)
    if parent is None:
        return [_insert_lines(doc, len(doc.text), _tree_lines(tree, 0, unit))]
    if parent.flow:
        body = _tree_flow(tree)
        if parent.pairs:
            end = parent.pairs[-1][1].span.end
            return [Edit(end, end, ", " + body)]
        return [Edit(parent.span.end - 1, parent.span.end - 1, body)]
    base = parent.pairs[0][0].span.column - 1 if parent.pairs else 0
    edits: list[Edit] = []
    fresh: Tree = {}
    for key, sub in tree.items():
        pair = find_pair(parent, key)
        if pair is None:
            fresh[key] = sub
            continue
        key_node, null = pair
        if not isinstance(sub, dict) or not isinstance(null, YScalar) or not _is_null(null):
            raise PolicyError(f"{_where(file, key_node)}: {key} must be a mapping")
        lines = _tree_lines(sub, base + unit, unit)
        if null.span.start != null.span.end:
            edits.append(_replace_then_insert(doc, null, lines))
        else:
            edits.append(_insert_lines(doc, key_node.span.end, lines))
    if fresh:
        lines = _tree_lines(fresh, base, unit)
        if parent.pairs:
            edits.append(_insert_lines(doc, parent.pairs[-1][1].span.end, lines))
        else:  # pragma: no cover - an empty block mapping is written as {} (flow)
            edits.append(_insert_lines(doc, parent.span.end, lines))
    return edits
