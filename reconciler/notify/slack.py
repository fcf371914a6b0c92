"""An event as a Slack incoming-webhook message: Block Kit blocks and a plain fallback text.

Slack's documented limits are kept by construction (tests/unit/test_notify_payloads.py
holds the output to them, each with its documentation URL): a header's text is at most 150
characters, a section's fields at most 10 of at most 2,000 characters each, a context's
elements at most 10.
"""

from __future__ import annotations

from typing import Any

from reconciler.notify.events import Event

HEADER_MAX = 150
FIELD_MAX = 2000
FIELDS_MAX = 10
SECTION_MAX = 3000


def message(event: Event) -> dict[str, Any]:
    """The JSON body Slack's incoming webhook takes for ``event``."""
    headline = event.headline()
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{label}*\n{_escape(value)}", FIELD_MAX)}
        for label, value in event.facts()[:FIELDS_MAX]
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(headline, HEADER_MAX)}},
        {"type": "section", "fields": fields},
    ]
    if event.reason:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "plain_text", "text": _cut(event.reason, SECTION_MAX)},
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "plain_text", "text": _cut(f"reconciler · {event.id}", SECTION_MAX)}
            ],
        }
    )
    # `text` is what notifications and screen readers show when blocks are present.
    return {"text": _cut(headline, SECTION_MAX), "blocks": blocks}


def _escape(text: str) -> str:
    """mrkdwn's three control characters, as Slack's formatting guide escapes them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
