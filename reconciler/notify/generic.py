"""An event as the generic webhook's JSON document (docs/notifications.schema.json) and its
HMAC-SHA256 signature.

The body is the same bytes on every attempt of one event (no send time in it), so a
receiver can drop a repeat by ``id``; the signature covers exactly those bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from reconciler import units
from reconciler.notify.events import Event

VERSION = 1
SIGNATURE_HEADER = "X-Reconciler-Signature-256"
EVENT_HEADER = "X-Reconciler-Event"


def document(event: Event) -> dict[str, Any]:
    """The webhook's JSON document for ``event`` (an app of several images: each part's
    digest too, under ``images``)."""
    out = {"version": VERSION, "id": event.id, "text": event.headline(), **event.to_json()}
    if event.digest and units.is_unit(event.digest):
        out["images"] = units.parts(event.digest)
    return out


def body(event: Event) -> bytes:
    """``document`` as the bytes sent (compact, keys sorted)."""
    return json.dumps(document(event), sort_keys=True, separators=(",", ":")).encode()


def signature(key: bytes, data: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``data`` under ``key``, the header's value."""
    return "sha256=" + hmac.new(key, data, hashlib.sha256).hexdigest()
