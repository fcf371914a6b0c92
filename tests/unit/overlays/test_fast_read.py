"""Reads (libyaml, overlays/yamlread) and edits (ruamel, overlays/yamldoc) see the same tree.

The daemon reads pins with libyaml for speed and edits with ruamel for exact positions;
if the two parsers ever disagreed on a file, the daemon would plan from one reading and
edit another. Every golden file, generated kustomizations and malformed inputs are parsed
both ways here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from reconciler.errors import PolicyError
from reconciler.overlays import yamldoc, yamlread
from reconciler.overlays.yamldoc import YMap, YNode, YScalar
from tests.property.test_overlay_edits import kustomizations

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(p for p in GOLDEN.glob("*/*.yaml"))


def shape(node: YNode | None) -> object:
    """What a reader depends on: values, null-ness, order; not offsets or 1.1/1.2 tags."""
    if node is None:
        return None
    if isinstance(node, YScalar):
        # An empty value has no text to stand on; the parsers place it differently.
        return (node.value, node.tag.endswith(":null"), node.span.line if node.value else 0)
    if isinstance(node, YMap):
        return (node.span.line, [(shape(k), shape(v)) for k, v in node.pairs])
    return (node.span.line, [shape(item) for item in node.items])


def both(data: bytes) -> tuple[object, object]:
    return shape(yamlread.parse(data, "f").root), shape(yamldoc.parse(data, "f").root)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_files_read_the_same(path: Path) -> None:
    fast, exact = both(path.read_bytes())
    assert fast == exact


@settings(max_examples=200, deadline=None)
@given(kustomizations())
def test_generated_kustomizations_read_the_same(case: tuple[str, object]) -> None:
    fast, exact = both(case[0].encode())
    assert fast == exact


@pytest.mark.parametrize(
    "data",
    [
        b"images: [\n",  # unclosed flow
        b"a: 1\na: 2\n",  # repeated key
        b"a: 1\n---\nb: 2\n",  # two documents
        b"images:\n- name: x\n\tdigest: y\n",  # a tab for indentation
        b"\xff\xfe",  # not UTF-8
        b"a: *nowhere\n",  # undefined alias
        b"? [a, b]\n: c\n",  # a key that is not a scalar
    ],
)
def test_malformed_files_are_refused_with_the_same_words(data: bytes) -> None:
    with pytest.raises(PolicyError) as exact:
        yamldoc.parse(data, "overlays/x/kustomization.yaml")
    with pytest.raises(PolicyError) as fast:
        yamlread.parse(data, "overlays/x/kustomization.yaml")
    assert str(fast.value) == str(exact.value)


def test_an_alias_bomb_is_refused_by_either_parser() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    data = ("\n".join(lines) + "\n").encode()
    for parse in (yamlread.parse, yamldoc.parse):
        with pytest.raises(PolicyError, match="alias bomb"):
            parse(data, "f")


@pytest.mark.parametrize("depth", [65, 999])
def test_deep_nesting_is_refused_by_either_parser(depth: int) -> None:
    data = ("[" * depth + "]" * depth + "\n").encode()
    with pytest.raises(PolicyError, match="nests more than 64 levels"):
        yamlread.parse(data, "f")
    with pytest.raises(PolicyError, match="nests more than 64 levels"):
        yamldoc.parse(data, "f")


def test_a_redefined_anchor_reads_the_same_and_an_alias_means_the_latest() -> None:
    # YAML 1.2 allows it and kustomize reads it; libyaml refuses, so yamlread hands the file
    # to ruamel, which must not print a ReusedAnchorWarning (the warnings filter makes it
    # an error here).
    data = b"a: &x one\nb: &x two\nc: *x\n"
    fast, exact = both(data)
    assert fast == exact
    root = yamldoc.parse(data, "f").root
    assert isinstance(root, YMap)
    assert [v.value for _, v in root.pairs if isinstance(v, YScalar)] == ["one", "two", "two"]


# A document without "&" has no anchor, so no alias: it is converted without counting
# nodes or keeping a budget (yamldoc._unshared). An "&" in a first comment line sends the
# same document down the path that counts, so the two can be compared on one text (its
# offsets and lines moved by that line: ``whole`` takes them back).
ANCHORED = b"# &\n"


def anchored(data: bytes, line: bytes = ANCHORED) -> bytes:
    bom = "\ufeff".encode() if data.startswith("\ufeff".encode()) else b""
    return bom + line + data[len(bom) :]


def whole(node: YNode | None, moved: int = 0) -> object:
    """Every field of a tree: values, tags, styles, flow, spans and the aliased flag; spans
    as if the text had ``moved`` fewer lines of ``ANCHORED`` before it."""
    if node is None:
        return None
    at = len(ANCHORED) * moved
    span = (node.span.start - at, node.span.end - at, node.span.line - moved, node.span.column)
    if isinstance(node, YScalar):
        return (node.value, node.tag, node.style, span, node.aliased)
    if isinstance(node, YMap):
        pairs = [(whole(k, moved), whole(v, moved)) for k, v in node.pairs]
        return ("map", pairs, node.flow, span, node.aliased)
    items = [whole(item, moved) for item in node.items]
    return ("seq", items, node.flow, span, node.aliased)


# A golden file with an anchor is read by the counting path alone: nothing to compare.
UNANCHORED = [p for p in FILES if b"&" not in p.read_bytes()]


@pytest.mark.parametrize("path", UNANCHORED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_documents_without_anchors_convert_as_the_counting_path_does(path: Path) -> None:
    data = path.read_bytes()
    for parse in (yamlread.parse, yamldoc.parse):
        assert whole(parse(data, "f").root) == whole(parse(anchored(data), "f").root, 1)


@settings(max_examples=100, deadline=None)
@given(kustomizations())
def test_generated_documents_convert_as_the_counting_path_does(case: tuple[str, object]) -> None:
    data = case[0].encode()
    if b"&" not in data:
        assert whole(yamlread.parse(data, "f").root) == whole(
            yamlread.parse(anchored(data), "f").root, 1
        )


@pytest.mark.parametrize(
    "data",
    [
        b"a: 1\nb:\n  c: 2\n  c: 3\n",  # a repeated key, nested
        b"a:\n  ? [x]\n  : 1\n",  # a key that is not a scalar, nested
        b"a: 1\na: 2\nb: " + b"[" * 70 + b"]" * 70 + b"\n",  # the depth wins over the key
        b"a: {b: 1, b: 2}\nc: {d: 1, d: 2}\n",  # the first of two problems
        b"? {a: 1, a: 2}\n: x\n",  # a repeated key inside a key that is not a scalar
    ],
)
def test_documents_without_anchors_are_refused_with_the_same_words(data: bytes) -> None:
    for parse in (yamlread.parse, yamldoc.parse):
        with pytest.raises(PolicyError) as counted:
            parse(anchored(data), "f")
        with pytest.raises(PolicyError) as unshared:
            parse(anchored(data, b"# \n"), "f")  # the same lines, without the "&"
        assert str(unshared.value) == str(counted.value)


def test_keeping_one_key_reads_it_as_the_whole_document_does_and_checks_the_rest() -> None:
    data = b"resources:\n- a\nimages:\n- name: app\n  newTag: v1\nlabels: {x: y}\n"
    full = yamlread.parse(data, "f").root
    kept = yamlread.parse(data, "f", keep=("images",)).root
    assert isinstance(full, YMap)
    assert isinstance(kept, YMap)
    assert [k.value for k, _ in kept.pairs] == ["images"]
    assert whole(kept.get("images")) == whole(full.get("images"))
    assert whole(kept.pairs[0][0]) == whole(full.pairs[1][0])
    assert (kept.span.start, kept.span.end) == (full.span.start, full.span.end)
    with pytest.raises(PolicyError, match='key "x" is repeated'):
        yamlread.parse(data.replace(b"{x: y}", b"{x: y, x: z}"), "f", keep=("images",))
