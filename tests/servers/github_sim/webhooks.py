"""Webhook deliveries for tests: GitHub's real example payloads, signed as GitHub signs them.

The payloads are the vendored subset of ``@octokit/webhooks-examples``
(tests/data/github/webhooks, written by scripts/vendor-github-specs). A delivery carries
``X-GitHub-Event``, ``X-GitHub-Delivery`` (unique per delivery: replays repeat it) and
``X-Hub-Signature-256``, the HMAC-SHA256 of the exact body under the hook's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "github" / "webhooks"


def example(event: str, action: str | None = None) -> bytes:
    """The vendored example body of ``event`` (and ``action``), byte for byte."""
    name = f"{event}.{action}.json" if action else f"{event}.json"
    return (EXAMPLES / name).read_bytes()


def signature(secret: bytes, body: bytes) -> str:
    """``X-Hub-Signature-256`` for ``body`` under ``secret``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def delivery(
    event: str, body: bytes, secret: bytes, delivery_id: str | None = None
) -> dict[str, str]:
    """The headers GitHub sends with ``body``; pass the same ``delivery_id`` for a replay."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/simulator",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature(secret, body),
    }
