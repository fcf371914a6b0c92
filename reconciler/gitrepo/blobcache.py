"""Parsed results of git blobs, cached by blob id: an unchanged overlay is parsed once.

A blob id names its bytes, so a parse result keyed by it never goes stale; the cache only
needs a bound. It is generic over what the parser returns and knows nothing of YAML.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class _Blobs(Protocol):
    def blob_id(self, path: str) -> str | None: ...

    def read(self, path: str) -> bytes | None: ...


class BlobCache(Generic[T]):
    """At most ``max_entries`` parse results, least recently used evicted first; thread-safe.

    A parser that raises caches nothing: the error is the caller's, and the next read tries
    again. Two threads reading the same new blob at once may both parse it; the results are
    equal, and holding a lock across a parse would serialise every reader.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("a blob cache needs room for at least one entry")
        self._max = max_entries
        self._entries: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_parse(self, blob_id: str, parse: Callable[[], T]) -> T:
        """The cached result for ``blob_id``, or ``parse()``'s, stored for next time."""
        with self._lock:
            if blob_id in self._entries:
                self._entries.move_to_end(blob_id)
                self.hits += 1
                return self._entries[blob_id]
            self.misses += 1
        value = parse()
        with self._lock:
            self._entries[blob_id] = value
            self._entries.move_to_end(blob_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def get(self, blob_id: str) -> T | None:
        """The cached result for ``blob_id``, or None; parses nothing."""
        with self._lock:
            if blob_id in self._entries:
                self._entries.move_to_end(blob_id)
                self.hits += 1
                return self._entries[blob_id]
            return None

    def entries(self) -> dict[str, T]:
        """A copy of what is cached, least recently used first (to keep it elsewhere)."""
        with self._lock:
            return dict(self._entries)

    def preload(self, entries: Mapping[str, T], *, parsed: bool = False) -> None:
        """Results parsed before (by another process), added as if parsed here; ``parsed``:
        just parsed for this cache, so counted as misses."""
        with self._lock:
            if parsed:
                self.misses += len(entries)
            for blob_id, value in entries.items():
                self._entries[blob_id] = value
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, blob_id: object) -> bool:
        with self._lock:
            return blob_id in self._entries


def read_parsed(
    view: _Blobs, path: str, cache: BlobCache[T], parse: Callable[[bytes], T]
) -> T | None:
    """``parse`` of the file at ``path`` in ``view``, through ``cache``; None if there is none."""
    blob_id = view.blob_id(path)
    if blob_id is None:
        return None

    def load() -> T:
        data = view.read(path)
        if data is None:  # the view changed under us: only a buggy view does this
            raise LookupError(f"{path} vanished between its id and its bytes")
        return parse(data)

    return cache.get_or_parse(blob_id, load)
