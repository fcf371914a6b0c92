"""What an OCI registry last said of each tag: the digest proven for it and its ``ETag``."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

MAX_KNOWN_TAGS = 4096
# An entity tag as RFC 9110 writes it; anything else is not sent back in If-None-Match.
_ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e]{0,512}"')

Key = tuple[str, str, str]  # (API base URL, repository path, tag)


@dataclass(frozen=True)
class Known:
    """A tag's last answer: the digest its manifest bytes were proven to hash to."""

    digest: str
    etag: str | None


class KnownTags:
    """A bounded, thread-safe map of tags to their last ``Known`` answer (least recent out)."""

    def __init__(self, limit: int = MAX_KNOWN_TAGS) -> None:
        self._limit = limit
        self._known: OrderedDict[Key, Known] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Known | None:
        with self._lock:
            return self._known.get(key)

    def put(self, key: Key, digest: str, etag: str | None) -> None:
        """Remember ``digest`` for ``key``, with ``etag`` only if it is a valid entity tag."""
        valid = etag if etag is not None and _ENTITY_TAG.fullmatch(etag) else None
        with self._lock:
            self._known[key] = Known(digest, valid)
            self._known.move_to_end(key)
            while len(self._known) > self._limit:
                self._known.popitem(last=False)

    def drop(self, key: Key) -> None:
        with self._lock:
            self._known.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._known)
