"""Revisions: a derived mapping tells which keys it changed, through parents and siblings."""

from __future__ import annotations

import gc
import weakref

from reconciler.revisions import Revision, changed_keys


def test_a_child_knows_its_changes_and_equals_a_dict_with_the_same_items() -> None:
    base = Revision({"a": 1, "b": 2})
    child = base.derive({"b": 3, "c": 4})
    grandchild = child.derive({}, removed=frozenset({"a"}))
    assert dict(base) == {"a": 1, "b": 2}  # never changed by deriving
    assert dict(grandchild) == {"b": 3, "c": 4}
    assert child.changed_since(base) == frozenset({"b", "c"})
    assert grandchild.changed_since(base) == frozenset({"a", "b", "c"})
    assert changed_keys(base, grandchild) == frozenset({"a", "b", "c"})
    assert grandchild == {"b": 3, "c": 4}
    assert base.derive({}) is base


def test_siblings_compare_through_their_common_parent() -> None:
    parent = Revision({n: n for n in range(100)})
    one = parent.derive({5: -5})
    two = parent.derive({7: -7})
    assert two.changed_since(one) == frozenset({5, 7})
    assert changed_keys(one, two) == frozenset({5, 7})
    assert one != two
    assert parent.derive({5: 5}) == parent  # a key set to an equal value: still equal


def test_without_a_common_ancestor_the_answer_comes_from_comparing_values() -> None:
    one = Revision({"a": 1, "b": 2})
    other = Revision({"a": 1, "b": 5})
    assert one.changed_since(other) is None
    assert changed_keys(one, other) == frozenset({"b"})
    assert changed_keys({"a": 1}, {"a": 1, "z": 0}) == frozenset({"z"})


def test_a_chain_keeps_one_generation_back_alive_and_no_more() -> None:
    """A revision holds its parent (a cycle's snapshot and the next are often siblings, and
    their parent must live to compare them), but once derived from, not its own parent."""
    base = Revision({"a": 1})
    child = base.derive({"a": 2})
    one, two = child.derive({"b": 1}), child.derive({"c": 1})
    base_ref = weakref.ref(base)
    del base, child
    gc.collect()
    assert base_ref() is None  # two generations back: free
    assert two.changed_since(one) == frozenset({"b", "c"})  # their parent lives
    assert dict(two) == {"a": 2, "c": 1}
