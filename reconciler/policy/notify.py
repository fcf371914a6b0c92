"""The `[notify.NAME]` tables: where the daemon tells people what happened (slack, teams,
webhook), which events, for which environments and apps.

A sink's URL (and a webhook's signing key) is never written in the policy: `url_from` and
`secret_from` name an environment variable or a file the daemon reads when it sends.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from typing import Any, Literal, NamedTuple, get_args

from reconciler.policy import values
from reconciler.policy.diagnostics import Problems, suggest
from reconciler.policy.keys import DURATION_SCHEMA, spec

NotifyEvent = Literal[
    "opened",
    "updated",
    "waiting-review",
    "merged",
    "live",
    "blocked",
    "gate-failing",
    "drift",
    "drift-resolved",
]
EVENTS: tuple[NotifyEvent, ...] = get_args(NotifyEvent)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_SCHEMA = {"type": "string", "pattern": r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+)$"}
_EVENTS_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "pattern": f"^({'|'.join(EVENTS)})$"},
}
MAX_SINK_TIMEOUT = timedelta(seconds=30)


class SecretRef(NamedTuple):
    """Where a secret is read when it is needed: an environment variable or a file (a value,
    not a table of the policy)."""

    source: Literal["env", "file"]
    name: str

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


def parse_secret_ref(raw: Any) -> SecretRef:
    """``"env:NAME"`` or ``"file:/path"`` -> SecretRef; anything else (a URL) is refused."""
    if not isinstance(raw, str):
        raise ValueError(f'expected "env:VARIABLE" or "file:/path", got {values.describe(raw)}')
    source, _, name = raw.partition(":")
    if source == "env" and _ENV_NAME.match(name):
        return SecretRef("env", name)
    if source == "file" and name.startswith("/"):
        return SecretRef("file", name)
    if source in ("http", "https"):
        raise ValueError(
            "the URL is a credential and must not be in the policy: put it in an environment "
            'variable or a mounted file and write "env:VARIABLE" or "file:/path"'
        )
    raise ValueError(
        f'expected "env:VARIABLE" (letters, digits, "_") or "file:/absolute/path", got "{raw}"'
    )


def _parse_events(raw: Any) -> tuple[NotifyEvent, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"expected a non-empty array of event names, got {values.describe(raw)}")
    out: list[NotifyEvent] = []
    for index, item in enumerate(raw):
        if item not in EVENTS:
            shown = item if isinstance(item, str) else values.describe(item)
            close = suggest(item, EVENTS, listing=False) if isinstance(item, str) else ""
            raise values.ItemValueError(
                index, f'no event "{shown}"' + (close or f"; the events are {', '.join(EVENTS)}")
            )
        out.append(item)
    return tuple(out)


def _duration_between(low: timedelta, high: timedelta | None = None) -> Any:
    def parse(raw: Any) -> timedelta:
        value = values.parse_duration(raw)
        if value < low:
            raise ValueError(f'"{raw}" is too short; the minimum is {values.format_duration(low)}')
        if high is not None and value > high:
            raise ValueError(f'"{raw}" is too long; the maximum is {values.format_duration(high)}')
        return value

    return parse


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Sink:
    """The keys every sink has."""

    name: str = spec(doc="The sink's name (the table's key).", from_key=True)
    url_from: SecretRef = spec(
        doc='Where the webhook URL is read when sending: "env:VARIABLE" or "file:/path" (a '
        "mounted secret). Never the URL itself: it is a credential.",
        example="env:NOTIFY_URL",
        parse=parse_secret_ref,
        schema=_SECRET_SCHEMA,
    )
    events: tuple[NotifyEvent, ...] = spec(
        EVENTS,
        doc="The events sent to this sink (docs/operations.md#notifications); default: all.",
        example=["merged", "live", "blocked"],
        parse=_parse_events,
        schema=_EVENTS_SCHEMA,
    )
    environments: tuple[str, ...] = spec(
        (),
        doc="Send only events about these target environments; default: all.",
        example=["prod"],
    )
    apps: tuple[str, ...] = spec(
        (), doc="Send only events about these apps; default: all.", example=["shop"]
    )
    review_after: timedelta = spec(
        timedelta(hours=4),
        doc="waiting-review: sent once a request has waited this long for an approval.",
        example="4h",
        parse=_duration_between(timedelta(0)),
        schema=DURATION_SCHEMA,
    )
    blocked_after: timedelta = spec(
        timedelta(hours=1),
        doc="blocked: sent once a promotion has been blocked this long, with the reason.",
        example="1h",
        parse=_duration_between(timedelta(0)),
        schema=DURATION_SCHEMA,
    )
    drift_after: timedelta = spec(
        timedelta(minutes=15),
        doc="drift: sent once what runs has differed from git this long.",
        example="15m",
        parse=_duration_between(timedelta(0)),
        schema=DURATION_SCHEMA,
    )
    timeout: timedelta = spec(
        timedelta(seconds=5),
        doc="Give up on one delivery attempt after this long (then retried with backoff).",
        example="5s",
        parse=_duration_between(timedelta(milliseconds=100), MAX_SINK_TIMEOUT),
        schema=DURATION_SCHEMA,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlackSink(_Sink):
    """A Slack incoming webhook: one Block Kit message per event."""

    kind: Literal["slack"] = spec(doc='"slack"')


@dataclasses.dataclass(frozen=True, kw_only=True)
class TeamsSink(_Sink):
    """A Microsoft Teams workflow webhook ("When a Teams webhook request is received"): one
    Adaptive Card per event."""

    kind: Literal["teams"] = spec(doc='"teams"')


@dataclasses.dataclass(frozen=True, kw_only=True)
class WebhookSink(_Sink):
    """Any HTTP endpoint: one JSON document per event (schema: docs/notifications.schema.json),
    signed with HMAC-SHA256 in the `X-Reconciler-Signature-256` header."""

    kind: Literal["webhook"] = spec(doc='"webhook"')
    secret_from: SecretRef = spec(
        doc='Where the HMAC-SHA256 signing key is read: "env:VARIABLE" or "file:/path".',
        example="file:/var/run/secrets/notify-hmac",
        parse=parse_secret_ref,
        schema=_SECRET_SCHEMA,
    )


NotifySink = SlackSink | TeamsSink | WebhookSink
NOTIFY_KINDS: dict[str, type[Any]] = {
    "slack": SlackSink,
    "teams": TeamsSink,
    "webhook": WebhookSink,
}


def check(
    sinks: dict[str, NotifySink] | Any,
    environments: Any,
    apps: Any,
    problems: Problems,
) -> None:
    """Cross-key rules: the environments and apps a sink names exist."""
    for name, sink in sinks.items():
        for key, known in (("environments", environments), ("apps", apps)):
            if problems.is_bad((key,)):
                continue
            for index, item in enumerate(getattr(sink, key)):
                if item not in known:
                    what = "environment" if key == "environments" else "app"
                    problems.add(
                        ("notify", name, key, index),
                        f'notify.{name}.{key}: no {what} "{item}"{suggest(item, known)}',
                        "unknown-name",
                    )
