"""The `[gates.NAME]` tables: http, soak, window, argocd and checks gates."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal

from reconciler.policy import values
from reconciler.policy.keys import DURATION_SCHEMA, EMPTY, URL_SCHEMA, duration_at_least, spec
from reconciler.policy.values import FreezeRange, WeeklyWindow

_STRING_TABLE_SCHEMA = {"type": "object", "additionalProperties": {"type": "string"}}


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ValueError(f"expected a whole number of at least 1, got {values.describe(raw)}")
    return raw


def _string_table(raw: Any) -> Mapping[str, str]:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a table of strings, got {values.describe(raw)}")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise ValueError(f'"{key}": expected a string, got {values.describe(value)}')
    return MappingProxyType(dict(raw))


def _string_list(parse_item: Callable[[str], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def parse(raw: Any) -> tuple[Any, ...]:
        if not isinstance(raw, list):
            raise ValueError(f"expected an array of strings, got {values.describe(raw)}")
        out = []
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                raise values.ItemValueError(
                    index, f"expected strings in this array, got {values.describe(item)}"
                )
            try:
                out.append(parse_item(item))
            except ValueError as exc:
                raise values.ItemValueError(index, str(exc)) from None
        return tuple(out)

    return parse


# The longest an http gate's probe may take: a probe holds one of the daemon's probing slots
# for its whole timeout, and a cycle's probing is bounded (twice this, reconciler.probes).
MAX_GATE_TIMEOUT = timedelta(seconds=30)


@dataclasses.dataclass(frozen=True)
class HttpGate:
    """Probe an endpoint of the source environment; samples count only on the candidate."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["http"] = spec(doc='"http"')
    url: str = spec(
        doc='The URL to probe; "{app}" and "{env}" are replaced.',
        example="https://staging.{app}.example.internal/healthz",
        parse=values.parse_url,
        schema=URL_SCHEMA,
    )
    method: Literal["GET", "HEAD", "POST"] = spec("GET", doc="HTTP method.")
    headers: Mapping[str, str] = spec(
        EMPTY,
        doc="Request headers with literal values (not for secrets).",
        example={"Accept": "application/json"},
        parse=_string_table,
        schema=_STRING_TABLE_SCHEMA,
    )
    headers_from_env: Mapping[str, str] = spec(
        EMPTY,
        doc="Request headers whose values are read from environment variables (secrets).",
        example={"Authorization": "STAGING_PROBE_TOKEN"},
        parse=_string_table,
        schema=_STRING_TABLE_SCHEMA,
    )
    headers_from_file: Mapping[str, str] = spec(
        EMPTY,
        doc="Request headers whose values are read from files (mounted secrets).",
        example={"Authorization": "/var/run/secrets/probe-token"},
        parse=_string_table,
        schema=_STRING_TABLE_SCHEMA,
    )
    expect_status: tuple[int, ...] = spec(
        (200,),
        doc="Accepted status code, or a list of them.",
        example=200,
        parse=values.parse_status_list,
        schema={
            "oneOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "integer", "minimum": 100, "maximum": 599},
                },
            ]
        },
    )
    expect_json: Mapping[str, Any] | None = spec(
        None,
        doc="JSON fields the body must have, by dotted path; nested tables are paths too.",
        example={"status": "ok"},
        parse=values.parse_json_expectations,
        schema={"type": "object"},
    )
    expect_body: str | None = spec(
        None,
        doc="A regular expression the body must match.",
        example="^OK",
        parse=values.parse_regex,
        schema={"type": "string"},
    )
    successes: int = spec(
        1,
        doc="Consecutive successful samples on the candidate digest needed to pass.",
        example=3,
        parse=_positive_int,
        schema={"type": "integer", "minimum": 1},
    )
    failures_to_block: int = spec(
        1,
        doc="Consecutive failures that reset the success streak (raise for noisy endpoints).",
        example=1,
        parse=_positive_int,
        schema={"type": "integer", "minimum": 1},
    )
    interval: timedelta = spec(
        timedelta(seconds=10),
        doc="Time between samples.",
        example="10s",
        parse=duration_at_least(timedelta(milliseconds=100)),
        schema=DURATION_SCHEMA,
    )
    timeout: timedelta = spec(
        timedelta(seconds=2),
        doc="Give up on one sample after this long (counts as a failure); at most 30s.",
        example="2s",
        parse=duration_at_least(timedelta(milliseconds=10)),
        schema=DURATION_SCHEMA,
    )
    follow_redirects: Literal["none", "same-host", "any"] = spec(
        "same-host", doc="Which redirects to follow."
    )
    max_body_bytes: int = spec(
        1_048_576,
        doc="Read at most this much of the body; more fails the sample.",
        parse=_positive_int,
        schema={"type": "integer", "minimum": 1},
    )


@dataclasses.dataclass(frozen=True)
class SoakGate:
    """The candidate must have been live in the source environment this long."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["soak"] = spec(doc='"soak"')
    duration: timedelta = spec(
        doc="Minimum time live in the source environment.",
        example="30m",
        parse=duration_at_least(timedelta(0)),
        schema=DURATION_SCHEMA,
    )


_WINDOWS_SCHEMA = {"type": "array", "items": {"type": "string"}}


@dataclasses.dataclass(frozen=True)
class WindowGate:
    """Promote only inside allowed hours and outside denied hours and freezes."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["window"] = spec(doc='"window"')
    allow: tuple[WeeklyWindow, ...] = spec(
        (),
        doc="Recurring windows that allow promotion (DAYS HH:MM-HH:MM ZONE). Empty: always.",
        example=["Mon-Fri 09:00-17:00 Asia/Kolkata"],
        parse=_string_list(values.parse_weekly_window),
        schema=_WINDOWS_SCHEMA,
    )
    deny: tuple[WeeklyWindow, ...] = spec(
        (),
        doc="Recurring windows that forbid promotion; a deny wins over an allow.",
        example=["Fri 16:00-24:00 Europe/Berlin"],
        parse=_string_list(values.parse_weekly_window),
        schema=_WINDOWS_SCHEMA,
    )
    freeze: tuple[FreezeRange, ...] = spec(
        (),
        doc="Absolute ranges START/END (ISO 8601 with offsets) that forbid promotion.",
        example=["2026-12-20T00:00+05:30/2027-01-03T00:00+05:30"],
        parse=_string_list(values.parse_freeze_range),
        schema=_WINDOWS_SCHEMA,
    )


@dataclasses.dataclass(frozen=True)
class ArgoCDGate:
    """The source environment's Argo CD Application is Synced and Healthy on the candidate
    (the seed's `argocd app wait --sync --health`); read through its [live] argocd source."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["argocd"] = spec(doc='"argocd"')


def _check_name(raw: str) -> str:
    if not raw.strip():
        raise ValueError("expected a check name or pattern, got an empty string")
    return raw


@dataclasses.dataclass(frozen=True)
class ChecksGate:
    """The forge's check runs and commit statuses are green on a commit: the one that last
    changed the source environment's overlay in the config repo, or the candidate image's
    source revision in its own repository."""

    name: str = spec(doc="The gate's name (the table's key).", from_key=True)
    kind: Literal["checks"] = spec(doc='"checks"')
    commit: Literal["config", "source"] = spec(
        "config",
        doc='"config": the commit that last changed the source overlay in the config repo; '
        "\"source\": the candidate's revision in its source repository, from the image's "
        "org.opencontainers.image.revision and .source labels (needs [registry]).",
    )
    checks: tuple[str, ...] = spec(
        (),
        doc="Check run names or commit status contexts that must pass; * and ? are "
        "wildcards (every check matching must pass, and at least one must be there).",
        example=["e2e", "build/*"],
        parse=_string_list(_check_name),
        schema={"type": "array", "items": {"type": "string", "minLength": 1}},
    )
    required: bool = spec(
        False,
        doc="Also every check the base branch requires (GitHub branch protection and "
        "rulesets); the forge must name at least one.",
    )
    interval: timedelta = spec(
        timedelta(seconds=10),
        doc="How often the forge is asked again while the checks are not all green (a "
        "running daemon wakes for it; GitHub answers an unchanged read without rate limit).",
        parse=duration_at_least(timedelta(seconds=1)),
        schema=DURATION_SCHEMA,
    )


Gate = HttpGate | SoakGate | WindowGate | ArgoCDGate | ChecksGate
GATE_KINDS: dict[str, type[Any]] = {
    "http": HttpGate,
    "soak": SoakGate,
    "window": WindowGate,
    "argocd": ArgoCDGate,
    "checks": ChecksGate,
}
