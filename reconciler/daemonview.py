"""A running daemon's view, read from another process (`reconciler status --daemon URL`)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from reconciler import overview
from reconciler.errors import PolicyError, TransientError
from reconciler.httpclient.addresses import safe_url
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import HttpError

STATUS_PATH = "/status"
TIMEOUT = timedelta(seconds=10)
MAX_BYTES = 64 * 1024 * 1024  # 10,000 apps x 3 environments is ~15 MB of JSON


def status_url(address: str) -> str:
    """The daemon's ``/status`` URL from what a user gives: ``HOST:PORT``, a base URL, or
    the whole URL."""
    url = address if "://" in address else f"http://{address}"
    base = url.rstrip("/")
    return base if base.endswith(STATUS_PATH) else base + STATUS_PATH


def read_view(address: str, client: HttpClient | None = None) -> dict[str, Any]:
    """The daemon's current view (overview.document); TransientError when it cannot be had
    yet, PolicyError when what answers is not a reconciler daemon of this version."""
    return read_document(address, client)[0]


def read_document(address: str, client: HttpClient | None = None) -> tuple[dict[str, Any], bytes]:
    """``read_view``, and the bytes the daemon sent: one line of JSON, as ``json.dumps``
    writes the view (so a program can be given them as they came)."""
    url = status_url(address)
    shown = safe_url(url)
    try:
        answer = (client or HttpClient(trust_env=False)).request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT,
            max_body_bytes=MAX_BYTES,
        )
    except HttpError as exc:
        raise TransientError(
            f"cannot reach the daemon at {shown} ({exc}); is `reconciler run` listening "
            "there (its --listen address)?"
        ) from None
    if answer.status == 503:
        said = answer.body.decode("utf-8", "replace").strip()
        raise TransientError(f"the daemon at {shown} has no view yet: {said}")
    if answer.status != 200:
        raise PolicyError(
            f"{shown} answered {answer.status}: not a reconciler daemon's /status (give the "
            "address of `reconciler run --listen`)"
        )
    try:
        view = json.loads(answer.body)
    except ValueError:
        view = None
    if not isinstance(view, dict) or view.get("version") != overview.VERSION:
        raise PolicyError(
            f"{shown} did not answer a status document of version {overview.VERSION}; is it "
            "a reconciler daemon of this release?"
        )
    return view, answer.body
