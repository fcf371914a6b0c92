"""Resource versions and watch streams for the fake Kubernetes API server, served as the API
concepts describe them (https://kubernetes.io/docs/reference/using-api/api-concepts/).

Every change bumps one cluster-wide resourceVersion and is kept in a history a watch
replays from its ``resourceVersion``. ``compact()`` drops the history: a watch from an older
version then gets, as the real server sends it, a 200 whose one event is an ERROR holding a
Status with code 410 (Gone). With ``allowWatchBookmarks=true`` a stream carries a BOOKMARK
(the version reached) when ``bookmark()`` is called and before it ends at
``timeoutSeconds``; ``drop()`` cuts every open stream without ending it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

_API_VERSION = {"Pod": "v1"}


@dataclass
class Change:
    revision: int
    type: str  # ADDED, MODIFIED or DELETED
    resource: str
    namespace: str
    obj: dict[str, Any]


@dataclass
class History:
    """The changes since the last compaction; guarded by ``changed``."""

    revision: int = 4242
    oldest: int = 0  # a watch from before this version is Gone
    changes: list[Change] = field(default_factory=list)
    bookmarks: int = 0  # bumped by bookmark(): each open stream sends one
    drops: int = 0  # bumped by drop(): each open stream is cut
    streams: int = 0  # watch streams open now
    changed: threading.Condition = field(default_factory=threading.Condition)

    def record(self, kind: str, resource: str, namespace: str, obj: dict[str, Any]) -> None:
        """Give ``obj`` the next resourceVersion and keep the change (``changed`` held)."""
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.changes.append(Change(self.revision, kind, resource, namespace, obj))
        self.changed.notify_all()


@dataclass(frozen=True)
class WatchRequest:
    resource: str
    namespace: str
    kind: str  # the object kind, for bookmarks
    since: int
    bookmarks: bool
    timeout: float
    selects: Any  # a predicate on a label dict


def list_version(history: History, query: dict[str, list[str]]) -> tuple[int, str] | None:
    """None when a list may be served at the current version, else the refusal's (code,
    reason); ``resourceVersionMatch`` as in api-concepts, "Semantics for get and list"."""
    wanted = query.get("resourceVersion", [""])[0]
    match = query.get("resourceVersionMatch", [""])[0]
    if match not in ("", "NotOlderThan", "Exact") or (match and not wanted):
        return 400, "BadRequest"
    if match == "NotOlderThan" and int(wanted) > history.revision:
        return 504, "Timeout"  # "Too large resource version"
    if match == "Exact" and int(wanted) != history.revision:
        return 410, "Gone"  # this fake keeps only the current state
    return None


def stream(handler: BaseHTTPRequestHandler, history: History, watch: WatchRequest) -> None:
    """Answer a watch: the changes after ``watch.since``, then new ones, until it ends."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    deadline = time.monotonic() + watch.timeout
    with history.changed:
        sent, bookmarks, drops = watch.since, history.bookmarks, history.drops
        if watch.since < history.oldest:
            gone = f"too old resource version: {watch.since} ({history.oldest})"
            _send(handler, [{"type": "ERROR", "object": status_object(410, "Expired", gone)}])
            _end(handler)
            return
        history.streams += 1
        history.changed.notify_all()
    try:
        _follow(handler, history, watch, sent, bookmarks, drops, deadline)
    finally:
        with history.changed:
            history.streams -= 1


def _follow(
    handler: BaseHTTPRequestHandler,
    history: History,
    watch: WatchRequest,
    sent: int,
    bookmarks: int,
    drops: int,
    deadline: float,
) -> None:
    while True:
        with history.changed:
            since, marks = sent, bookmarks
            history.changed.wait_for(
                lambda: (
                    history.revision > since  # noqa: B023 - waited on at once, in this pass
                    or history.bookmarks != marks  # noqa: B023
                    or history.drops != drops
                    or time.monotonic() >= deadline
                ),
                timeout=max(0.0, deadline - time.monotonic()),
            )
            events = [
                {"type": c.type, "object": c.obj}
                for c in history.changes
                if c.revision > sent
                and (c.resource, c.namespace) == (watch.resource, watch.namespace)
                and watch.selects(c.obj["metadata"].get("labels", {}))
            ]
            sent = history.revision
            ended = time.monotonic() >= deadline
            if watch.bookmarks and (history.bookmarks != bookmarks or ended):
                events.append({"type": "BOOKMARK", "object": _bookmark(watch.kind, sent)})
            bookmarks, dropped = history.bookmarks, history.drops != drops
        if dropped:
            _cut(handler)
            return
        if events and not _send(handler, events):
            return
        if ended:
            _end(handler)
            return


def _bookmark(kind: str, revision: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": _API_VERSION.get(kind, "apps/v1"),
        "metadata": {"resourceVersion": str(revision)},
    }


def status_object(code: int, reason: str, message: str) -> dict[str, Any]:
    """A failure as the API server writes it: a Status object."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _send(handler: BaseHTTPRequestHandler, events: list[dict[str, Any]]) -> bool:
    data = b"".join(json.dumps(event).encode() + b"\n" for event in events)
    try:
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()
    except OSError:
        return False  # the client hung up
    return True


def _end(handler: BaseHTTPRequestHandler) -> None:
    with suppress(OSError):
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def _cut(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    with suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)
