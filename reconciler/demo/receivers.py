"""Where the demo's notifications go: Slack, Teams and webhook receivers on loopback.

One HTTP server keeps every message POSTed to `/slack`, `/teams` and `/webhook`; the
webhook's signature is checked with the demo's key, as a real receiver would. The demo's
policy gets a `[notify.NAME]` table for each, the URLs and the key in files of the demo's
folder (a policy never holds them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

KINDS = {"slack": "slack", "teams": "teams", "webhook": "webhook"}  # path -> sink kind
KEY = b"demo-notification-signing-key"


class Receivers:
    """The three receivers, and what each was sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._got: dict[str, list[dict[str, Any]]] = {name: [] for name in KINDS}
        self.bad_signatures = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Receivers:
        """Start answering; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering."""
        self._server.shutdown()
        self._server.server_close()

    def tables(self, folder: Path) -> str:
        """`[notify.NAME]` tables for the receivers; their URLs and key written in ``folder``."""
        host, port = self._server.server_address[:2]
        folder = folder.resolve()  # `file:` takes an absolute path; `--dir` may be relative
        key = folder / "notify-key"
        key.write_bytes(KEY + b"\n")
        out = ["\n# Notifications to local receivers; the URLs and the key are in files."]
        for name, kind in KINDS.items():
            url = folder / f"notify-{name}-url"
            url.write_text(f"http://{host!s}:{port}/{name}\n")
            out += [
                f"[notify.demo-{name}]",
                f'kind = "{kind}"',
                f'url_from = "file:{url}"',
                'review_after = "0s"',
            ]
            if kind == "webhook":
                out.append(f'secret_from = "file:{key}"')
            out.append("")
        return "\n".join(out)

    def received(self, name: str) -> list[dict[str, Any]]:
        """The JSON documents ``name`` (slack, teams, webhook) received, in order."""
        with self._lock:
            return list(self._got[name])

    def keep(self, name: str, body: bytes, signature: str | None) -> int:
        """Keep one message; the HTTP status to answer."""
        if name not in self._got:
            return 404
        if name == "webhook":
            expected = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, signature or ""):
                with self._lock:
                    self.bad_signatures += 1
                return 401
        try:
            document = json.loads(body)
        except ValueError:
            return 400
        with self._lock:
            self._got[name].append(document)
        return 200


def event_id(name: str, document: dict[str, Any]) -> str:
    """The event id a message carries: its last line (Slack, Teams) or its ``id``."""
    if name == "slack":
        return str(document["blocks"][-1]["elements"][0]["text"]).split(" · ", 1)[1]
    if name == "teams":
        card = document["attachments"][0]["content"]
        return str(card["body"][-1]["text"]).split(" · ", 1)[1]
    return str(document["id"])


def headline(name: str, document: dict[str, Any]) -> str:
    """The message's one line for people."""
    if name == "slack":
        return str(document["text"])
    if name == "teams":
        return str(document["attachments"][0]["content"]["body"][0]["text"])
    return str(document["text"])


def _handler(receivers: Receivers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # the story prints
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = receivers.keep(
                self.path.strip("/"), body, self.headers.get("X-Reconciler-Signature-256")
            )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
