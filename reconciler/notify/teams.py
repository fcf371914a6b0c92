"""An event as a Microsoft Teams workflow-webhook message: one Adaptive Card (version 1.4)
in a ``message`` envelope, as the "When a Teams webhook request is received" workflow takes
it. The card uses TextBlock and FactSet only (tests hold it to the Adaptive Card schema from
the `adaptivecards` package, tests/data/notify/)."""

from __future__ import annotations

from typing import Any

from reconciler.notify.events import Event

CARD_VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
_COLORS = {
    "blocked": "attention",
    "gate-failing": "attention",
    "drift": "warning",
    "waiting-review": "warning",
    "live": "good",
    "merged": "good",
    "drift-resolved": "good",
}


def card(event: Event) -> dict[str, Any]:
    """The Adaptive Card for ``event``."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": event.headline(),
            "weight": "bolder",
            "size": "medium",
            "color": _COLORS.get(event.kind, "default"),
            "wrap": True,
        },
        {
            "type": "FactSet",
            "facts": [{"title": label, "value": value} for label, value in event.facts()],
        },
    ]
    if event.reason:
        body.append({"type": "TextBlock", "text": event.reason, "wrap": True})
    body.append(
        {"type": "TextBlock", "text": f"reconciler · {event.id}", "isSubtle": True, "wrap": True}
    )
    return {"type": "AdaptiveCard", "version": CARD_VERSION, "body": body}


def message(event: Event) -> dict[str, Any]:
    """The JSON body a Teams workflow webhook takes for ``event``."""
    return {
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card(event)}],
    }
