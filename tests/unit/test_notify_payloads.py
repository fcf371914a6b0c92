"""Each message kind held to its receiver's documented shape, for every event kind and for
text longer than any limit:

- Teams: the card against the Adaptive Card schema translated from Microsoft's
  `adaptivecards` package (tests/data/notify/, scripts/vendor-card-schema), and the
  `message` envelope Teams documents for cards posted to a webhook;
- Slack: no machine-readable Block Kit schema is published (`@slack/types` is TypeScript
  only), so each documented constraint the messages touch is a rule below with its URL;
- the generic webhook: against docs/notifications.schema.json, which the repo ships, and
  its signature against RFC 4231's HMAC-SHA256 test vector.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler import units
from reconciler.notify import generic, slack, teams
from reconciler.notify.events import Event
from reconciler.policy.notify import EVENTS

ROOT = Path(__file__).resolve().parents[2]
CARD_SCHEMA = json.loads((ROOT / "tests/data/notify/adaptive-card.schema.json").read_text())
WEBHOOK_SCHEMA = json.loads((ROOT / "docs/notifications.schema.json").read_text())
NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32
LONG = "x<&>" * 2000  # 8,000 characters, with every character mrkdwn escapes


def event(kind: str, reason: str | None = "the health gate failed 3 times") -> Event:
    return Event(
        kind=kind,  # type: ignore[arg-type]
        app="shop",
        env="prod",
        at=NOW,
        digest=DIGEST,
        source="staging",
        number=12,
        code="gate:failing" if kind == "blocked" else None,
        gate="health" if kind == "gate-failing" else None,
        reason=reason,
        live_digest=DIGEST.replace("ab", "cd") if kind.startswith("drift") else None,
    )


EVENTS_TO_CHECK = [event(kind) for kind in EVENTS] + [
    event("blocked", reason=LONG),
    event("merged", reason=None),
]
IDS = [f"{e.kind}{'-long' if e.reason == LONG else ''}" for e in EVENTS_TO_CHECK]


# -- Teams ---------------------------------------------------------------------------------

TEAMS_DOC = (
    "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/"
    "how-to/connectors-using"
)


@pytest.mark.parametrize("told", EVENTS_TO_CHECK, ids=IDS)
def test_the_teams_card_is_a_valid_adaptive_card(told: Event) -> None:
    jsonschema.validate(teams.card(told), CARD_SCHEMA)


def test_the_vendored_card_schema_refuses_what_teams_would() -> None:
    card = teams.card(event("merged"))
    wrong = {**card, "body": [{"type": "TextBlock", "text": "x", "weight": "heavy"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, CARD_SCHEMA)
    missing = {**card, "body": [{"type": "FactSet", "facts": [{"title": "only"}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(missing, CARD_SCHEMA)


@pytest.mark.parametrize("told", EVENTS_TO_CHECK, ids=IDS)
def test_the_teams_message_is_the_documented_envelope(told: Event) -> None:
    message = teams.message(told)
    # TEAMS_DOC: "type": "message", and the card as the content of an attachment of
    # contentType "application/vnd.microsoft.card.adaptive".
    assert message["type"] == "message", TEAMS_DOC
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive", TEAMS_DOC
    assert attachment["content"]["type"] == "AdaptiveCard", TEAMS_DOC


# -- Slack ---------------------------------------------------------------------------------

Rule = tuple[str, str, Callable[[dict[str, Any]], bool]]


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == kind]


def _texts(message: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for block in message["blocks"]:
        if "text" in block:
            out.append(block["text"])
        out += block.get("fields", [])
        out += block.get("elements", [])
    return out


SLACK_RULES: list[Rule] = [
    (
        "a message has at most 50 blocks",
        "https://docs.slack.dev/reference/block-kit/blocks",
        lambda m: len(m["blocks"]) <= 50,
    ),
    (
        "with blocks, the top-level text is the fallback shown in notifications",
        "https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks",
        lambda m: isinstance(m["text"], str) and 0 < len(m["text"]) <= 3000,
    ),
    (
        "a header's text is a plain_text object of at most 150 characters",
        "https://docs.slack.dev/reference/block-kit/blocks/header-block",
        lambda m: all(
            b["text"]["type"] == "plain_text" and len(b["text"]["text"]) <= 150
            for b in _blocks(m, "header")
        ),
    ),
    (
        "a section has text or fields; text at most 3000 characters",
        "https://docs.slack.dev/reference/block-kit/blocks/section-block",
        lambda m: all(
            ("text" in b or "fields" in b) and len(b.get("text", {}).get("text", "")) <= 3000
            for b in _blocks(m, "section")
        ),
    ),
    (
        "a section has at most 10 fields of at most 2000 characters each",
        "https://docs.slack.dev/reference/block-kit/blocks/section-block",
        lambda m: all(
            len(b.get("fields", [])) <= 10
            and all(len(f["text"]) <= 2000 for f in b.get("fields", []))
            for b in _blocks(m, "section")
        ),
    ),
    (
        "a context block has 1 to 10 elements",
        "https://docs.slack.dev/reference/block-kit/blocks/context-block",
        lambda m: all(1 <= len(b["elements"]) <= 10 for b in _blocks(m, "context")),
    ),
    (
        "a text object is plain_text or mrkdwn, 1 to 3000 characters",
        "https://docs.slack.dev/reference/block-kit/composition-objects/text-object",
        lambda m: all(
            t["type"] in ("plain_text", "mrkdwn") and 1 <= len(t["text"]) <= 3000 for t in _texts(m)
        ),
    ),
    (
        "mrkdwn escapes &, < and > as &amp; &lt; &gt;",
        "https://docs.slack.dev/messaging/formatting-message-text#escaping",
        lambda m: all(
            "<" not in t["text"] and ">" not in t["text"]
            for t in _texts(m)
            if t["type"] == "mrkdwn"
        ),
    ),
    (
        "block types are among Block Kit's",
        "https://docs.slack.dev/reference/block-kit/blocks",
        lambda m: {b["type"] for b in m["blocks"]} <= {"header", "section", "context", "divider"},
    ),
]


@pytest.mark.parametrize("told", EVENTS_TO_CHECK, ids=IDS)
@pytest.mark.parametrize(("rule", "url", "holds"), SLACK_RULES, ids=[r[0] for r in SLACK_RULES])
def test_the_slack_message_keeps_block_kit_limits(
    told: Event, rule: str, url: str, holds: Callable[[dict[str, Any]], bool]
) -> None:
    assert holds(slack.message(told)), f"{rule} ({url})"


def test_slack_fields_carry_the_escaped_text() -> None:
    message = slack.message(event("merged", reason=None))
    fields = _blocks(message, "section")[0]["fields"]
    assert {"type": "mrkdwn", "text": f"*Digest*\n{DIGEST}"} in fields


# -- the generic webhook --------------------------------------------------------------------


@pytest.mark.parametrize("told", EVENTS_TO_CHECK, ids=IDS)
def test_the_generic_document_satisfies_the_shipped_schema(told: Event) -> None:
    document = json.loads(generic.body(told))
    jsonschema.validate(document, WEBHOOK_SCHEMA)
    assert document["version"] == 1
    assert document["id"] == told.id


def test_an_app_of_several_images_names_its_set_and_each_part() -> None:
    key = units.key({"api": DIGEST, "migrate": DIGEST.replace("ab", "ef")})
    document = json.loads(generic.body(replace(event("live"), digest=key)))
    jsonschema.validate(document, WEBHOOK_SCHEMA)
    assert (document["digest"], document["images"]) == (key, units.parts(key))
    with pytest.raises(jsonschema.ValidationError):  # a key is not any text with "="
        jsonschema.validate({**document, "digest": "api=v1"}, WEBHOOK_SCHEMA)


def test_the_shipped_schema_refuses_an_unknown_version_and_event() -> None:
    document = json.loads(generic.body(event("merged")))
    for wrong in ({"version": 2}, {"event": "deployed"}, {"extra": True}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**document, **wrong}, WEBHOOK_SCHEMA)


def test_the_same_event_is_the_same_bytes() -> None:
    assert generic.body(event("live")) == generic.body(event("live"))


def test_the_signature_is_hmac_sha256_as_rfc_4231_computes_it() -> None:
    # RFC 4231, section 4.3 (test case 2): key "Jefe", data "what do ya want for nothing?".
    assert generic.signature(b"Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
