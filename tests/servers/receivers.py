"""Notification receivers on loopback: Slack, Teams and a generic webhook that answer, and
three that do not: one failing (500), one hanging past any timeout, one busy (429 with
Retry-After on each event's first attempt, then 200).

Every request is kept (path, headers, body) on an ``Endpoints`` of tests.servers.endpoints.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.servers.endpoints import Endpoints, Received, Route, hang, reply, serve

OK = ("slack", "teams", "hook")
PATHS = {"slack": "/slack", "teams": "/teams", "hook": "/hook"}
FAILING, HANGING, BUSY = "/fail", "/hang", "/busy"
HMAC_KEY = b"test-notify-hmac-key"


def busy_once() -> Route:
    """429 with ``Retry-After: 1`` on the first attempt of each event id, then 200."""
    seen: set[str] = set()
    lock = threading.Lock()

    def route(handler: Any, endpoints: Endpoints) -> None:
        with endpoints.served:  # one sender thread per sink: the last /busy request is this
            body = [r for r in endpoints.received if r.path == BUSY][-1].body
        event_id = json.loads(body).get("id", "")
        with lock:
            first = event_id not in seen
            seen.add(event_id)
        if first:
            reply(429, b"slow down", {"Retry-After": "1"})(handler, endpoints)
        else:
            reply(200, b"ok")(handler, endpoints)

    return route


@contextmanager
def receivers() -> Iterator[Endpoints]:
    """All six receivers on one loopback server."""
    with serve() as endpoints:
        endpoints.routes.update(
            {
                "/slack": reply(200, b"ok"),
                "/teams": reply(202),
                "/hook": reply(204),
                FAILING: reply(500, b"broken"),
                HANGING: hang(),
                BUSY: busy_once(),
            }
        )
        yield endpoints


def sink_tables(endpoints: Endpoints, folder: Path) -> str:
    """`[notify.*]` tables for the six receivers, their URLs and key in files of ``folder``."""
    tables = []
    kinds = {"slack": "slack", "teams": "teams", "hook": "webhook"}
    key_file = folder / "hmac-key"
    key_file.write_bytes(HMAC_KEY + b"\n")
    sinks = [(name, kinds[name], PATHS[name]) for name in OK] + [
        ("failing", "webhook", FAILING),
        ("hanging", "webhook", HANGING),
        ("busy", "webhook", BUSY),
    ]
    for name, kind, path in sinks:
        url_file = folder / f"{name}-url"
        url_file.write_text(endpoints.url(path) + "\n")
        table = [f"[notify.{name}]", f'kind = "{kind}"', f'url_from = "file:{url_file}"']
        table.append('review_after = "0s"')
        table.append('timeout = "300ms"')
        if kind == "webhook":
            table.append(f'secret_from = "file:{key_file}"')
        tables.append("\n".join(table))
    return "\n\n" + "\n\n".join(tables) + "\n"


def event_id(request: Received) -> str:
    """The event id a received message carries, whatever its shape."""
    document = json.loads(request.body)
    if "blocks" in document:  # Slack: the context block's text
        return str(document["blocks"][-1]["elements"][0]["text"]).split(" · ", 1)[1]
    if document.get("type") == "message":  # Teams: the card's last TextBlock
        card = document["attachments"][0]["content"]
        return str(card["body"][-1]["text"]).split(" · ", 1)[1]
    return str(document["id"])


def delivered(endpoints: Endpoints, path: str) -> Counter[str]:
    """How many times each event id reached ``path``."""
    with endpoints.served:
        got = [r for r in endpoints.received if r.path == path]
    return Counter(event_id(r) for r in got)
