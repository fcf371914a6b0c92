"""The position index: every key path tomllib sees is located where it was written."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.policy.positions import Span, index_positions

DOC = """\
version = 1
[settings]
labels = ["a",
  "b"]  # trailing comment
[apps."order.gw"]
image = 'x'
env.a = { b = 1, "c d" = [1, { x = 2 }] }
[[t]]
x = \"\"\"a ]
\"\"\"
[[t]]
[t.sub]
y = 1979-05-27 07:32:00Z
"""

CASES = [
    (("version",), (1, 1), (1, 11)),
    (("settings",), (2, 1), None),
    (("settings", "labels"), (3, 1), (3, 10)),
    (("settings", "labels", 1), (4, 3), (4, 3)),
    (("apps", "order.gw"), (5, 1), None),
    (("apps", "order.gw", "image"), (6, 1), (6, 9)),
    (("apps", "order.gw", "env"), (7, 1), None),
    (("apps", "order.gw", "env", "a", "c d"), (7, 18), (7, 26)),
    (("apps", "order.gw", "env", "a", "c d", 1, "x"), (7, 32), (7, 36)),
    (("t", 0), (8, 1), None),
    (("t", 0, "x"), (9, 1), (9, 5)),
    (("t", 1, "sub"), (12, 1), None),
    (("t", 1, "sub", "y"), (13, 1), (13, 5)),
]


@pytest.mark.parametrize(("path", "key", "value"), CASES, ids=[str(c[0]) for c in CASES])
def test_location(
    path: tuple[Any, ...], key: tuple[int, int], value: tuple[int, int] | None
) -> None:
    location = index_positions(DOC).get(path)
    assert location is not None
    assert location.key == Span(*key)
    assert location.value == (Span(*value) if value else None)


def test_missing_path_falls_back_to_nearest_ancestor() -> None:
    index = index_positions(DOC)
    assert index.key(("apps", "order.gw", "nope", "deeper")) == Span(5, 1)
    assert index.value(("nothing",)) == Span(1, 1)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        out = [path] if path else []
        for key, item in value.items():
            out += _leaves(item, (*path, key))
        return out
    if isinstance(value, list):
        out = [path]
        for index, item in enumerate(value):
            out += _leaves(item, (*path, index))
        return out
    return [path]


_keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
_scalars = (
    st.integers(-(2**63), 2**63 - 1)
    | st.booleans()
    | st.text(max_size=20)
    | st.floats(allow_nan=False)
    | st.datetimes()
)
_documents = st.recursive(
    st.dictionaries(_keys, _scalars, max_size=4),
    lambda children: st.dictionaries(
        _keys,
        children | st.lists(children, max_size=3) | st.lists(_scalars, max_size=3),
        max_size=4,
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_documents, st.booleans())
def test_every_path_of_any_document_is_located(document: dict[str, Any], multiline: bool) -> None:
    text = tomli_w.dumps(document, multiline_strings=multiline)
    parsed = tomllib.loads(text)
    index = index_positions(text)
    lines = text.split("\n")
    for path in _leaves(parsed):
        location = index.get(path)
        assert location is not None, path
        rest = lines[location.key.line - 1][location.key.column - 1 :]
        last = path[-1]
        if isinstance(last, str):
            # A key is located at its name, bare or quoted, or at its table header.
            assert rest.startswith((last, '"', "'", "[")), (path, rest)
        else:
            # An array item is located at its value, or at its [[header]].
            assert rest[:1] not in ("", " ", "\t", ",", "]"), (path, rest)
