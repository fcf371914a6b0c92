"""A read-only mapping that knows which keys it changed from the one it was derived from.

At 10,000 apps a cycle's per-(app, environment) facts hold 30,000 entries; finding the few
a push changed by comparing two such mappings costs milliseconds each time. A ``Revision``
made with ``derive`` remembers the keys it changed, so a later step (planning) can ask
``changed_since(earlier)`` and visit only those. A revision holds its parent until it is
derived from itself: then only weakly, so a chain keeps one generation back alive, never
every old cycle (a cycle's snapshot and the next share the parent they were derived from).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_MAX_WALK = 8  # ancestors followed before giving up and comparing whole mappings
_MISSING = object()


class Revision(Mapping[K, V], Generic[K, V]):
    """Immutable mapping; ``derive`` makes the next revision, recording what it changed."""

    __slots__ = ("__weakref__", "_changed", "_data", "_held", "_parent")

    def __init__(self, data: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(data) if data is not None else {}
        self._parent: weakref.ref[Revision[K, V]] | None = None
        self._held: Revision[K, V] | None = None  # the parent, until this one has a child
        self._changed: frozenset[K] = frozenset()

    def derive(self, updates: Mapping[K, V], removed: frozenset[K] = frozenset()) -> Revision[K, V]:
        """A new revision with ``updates`` set and ``removed`` gone; ``self`` is unchanged."""
        if not updates and not removed:
            return self
        data = self._data.copy()
        data.update(updates)
        for key in removed:
            data.pop(key, None)
        made: Revision[K, V] = Revision.__new__(Revision)
        made._data = data
        made._parent = weakref.ref(self)
        made._held = self
        made._changed = frozenset(updates) | removed
        self._held = None  # a parent now: its child holds it, it need not hold its own
        return made

    def changed_since(self, earlier: Mapping[K, V]) -> frozenset[K] | None:
        """The keys whose value may differ from ``earlier``'s; None when unknown (the two
        share no recent ancestor). Siblings count: a cycle derives its snapshot's overlays
        from the reader's, so two cycles' overlays are often children of one parent."""
        if earlier is self:
            return frozenset()
        if not isinstance(earlier, Revision):
            return None
        theirs = {id(earlier): (earlier, frozenset[K]())}
        gathered: set[K] = set()
        at: Revision[K, V] | None = earlier
        for _ in range(_MAX_WALK):
            parent = at._parent() if at is not None and at._parent is not None else None
            if parent is None or at is None:
                break
            gathered |= at._changed
            at = parent
            theirs[id(at)] = (at, frozenset(gathered))
        mine: set[K] = set()
        at = self
        for _ in range(_MAX_WALK + 1):
            hit = theirs.get(id(at))
            if hit is not None and hit[0] is at:
                return frozenset(mine | hit[1])
            parent = at._parent() if at._parent is not None else None
            if parent is None:
                return None
            mine |= at._changed
            at = parent
        return None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def get(self, key: K, default: object = None) -> V | object:  # type: ignore[override]
        """The value at ``key``, or ``default`` (the dict's own, for speed)."""
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if isinstance(other, Revision):
            keys = self.changed_since(other)
            if keys is not None:
                return all(
                    self._data.get(k, _MISSING) == other._data.get(k, _MISSING) for k in keys
                )
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Revision({len(self._data)} entries)"


def changed_keys(old: Mapping[K, V], new: Mapping[K, V]) -> frozenset[K]:
    """The keys whose value differs between ``old`` and ``new`` (by identity first: values
    are frozen, so the same object is the same value)."""
    if old is new:
        return frozenset()
    if isinstance(new, Revision):
        known = new.changed_since(old)
        if known is not None:
            return known
    found = {k for k, v in new.items() if (was := old.get(k, _MISSING)) is not v and was != v}
    found.update(k for k in old if k not in new)
    return frozenset(found)
