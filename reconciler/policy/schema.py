"""The JSON Schema and the Markdown reference of `promotions.toml`, both from policy.model."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from reconciler.policy.decode import (
    default_of,
    fields_of,
    has_default,
    optional_inner,
    tagged_kinds,
)
from reconciler.policy.model import NAME_PATTERN, Policy
from reconciler.policy.values import format_duration


def policy_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of `promotions.toml`, for editors and CI."""
    defs: dict[str, Any] = {}
    root = _object(Policy, defs)
    # The only version this release reads; the loader refuses any other.
    root["properties"]["version"]["const"] = 1
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "reconciler promotions.toml",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """The schema as written to promotion-policies/schema.json."""
    return json.dumps(policy_schema(), indent=2, ensure_ascii=False) + "\n"


def _object(cls: type[Any], defs: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field, hint in fields_of(cls):
        if field.metadata["from_key"]:
            continue
        prop = dict(field.metadata["schema"] or _hint_schema(optional_inner(hint), defs))
        prop["description"] = field.metadata["doc"]
        default = toml_default(field)
        if default is not None:
            prop["default"] = default
        if field.metadata["example"] is not None:
            prop["examples"] = [field.metadata["example"]]
        properties[field.name] = prop
        if not has_default(field):
            required.append(field.name)
    out: dict[str, Any] = {
        "type": "object",
        "description": (cls.__doc__ or "").strip(),
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    return out


def _ref(cls: type[Any], defs: dict[str, Any]) -> dict[str, Any]:
    if cls.__name__ not in defs:
        defs[cls.__name__] = {}  # placeholder first: guards against recursion
        defs[cls.__name__] = _object(cls, defs)
    return {"$ref": f"#/$defs/{cls.__name__}"}


def _hint_schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if hint is str:
        return {"type": "string", "minLength": 1}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin is tuple:
        return {"type": "array", "items": {"type": "string", "minLength": 1}}
    if dataclasses.is_dataclass(hint):
        return _ref(typing.cast(type[Any], hint), defs)
    if origin is Mapping:
        item = typing.get_args(hint)[1]
        kinds = tagged_kinds(item)
        if kinds is not None:
            value: dict[str, Any] = {"oneOf": [_ref(cls, defs) for cls in kinds.values()]}
        else:
            value = _hint_schema(item, defs)
        return {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": value,
        }
    raise TypeError(f"no schema for {hint}")  # pragma: no cover


def toml_default(field: dataclasses.Field[Any]) -> Any:
    """A field's default as it would be written in TOML, or None when it has none to show."""
    if not has_default(field):
        return None
    default = default_of(field)
    if default is None or dataclasses.is_dataclass(default):
        return None
    if isinstance(default, timedelta):
        return format_duration(default)
    if isinstance(default, tuple):
        return list(default)
    if isinstance(default, Mapping):
        return dict(default) or None
    return default
