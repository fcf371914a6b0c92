"""How a policy key is declared (`spec`), and the parsers and JSON Schemas keys share."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from reconciler.policy import values

_REQUIRED: Any = dataclasses.MISSING


def spec(
    default: Any = _REQUIRED,
    *,
    doc: str,
    example: Any = None,
    parse: Callable[[Any], Any] | None = None,
    schema: dict[str, Any] | None = None,
    from_key: bool = False,
) -> Any:
    """A policy key: its documentation, default, example and (for encoded values) parser.

    ``parse`` turns the raw TOML value into the field's value, raising ValueError with a
    message for the user; ``schema`` is then the JSON Schema of the raw value.
    ``from_key`` marks the field filled from the table's own name rather than a key.
    """
    metadata = {
        "doc": doc,
        "example": example,
        "parse": parse,
        "schema": schema,
        "from_key": from_key,
    }
    if default is _REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, Mapping):
        frozen = MappingProxyType(dict(default))
        return dataclasses.field(default_factory=lambda: frozen, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# JSON Schemas of raw values that several tables' keys share.
DURATION_SCHEMA = {
    "type": "string",
    "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$",
    "minLength": 2,
}
URL_SCHEMA = {"type": "string", "pattern": "^https?://"}
EMPTY: Mapping[str, str] = MappingProxyType({})  # the default of an optional table of strings


def duration_at_least(minimum: timedelta) -> Callable[[Any], timedelta]:
    """The parser of a duration key that must be at least ``minimum``."""

    def parse(raw: Any) -> timedelta:
        value = values.parse_duration(raw)
        if value < minimum:
            raise ValueError(
                f'"{raw}" is too short; the minimum is {values.format_duration(minimum)}'
            )
        return value

    return parse
