"""Raw TOML tables -> the frozen dataclasses of policy.model, driven by their fields.

Decoding never stops at the first problem: a bad value is recorded and replaced by its
default (or a neutral placeholder) so that the cross-field rules can still run and the user
sees every mistake in one go.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from reconciler.policy.diagnostics import Problems, key_name, suggest, table_name
from reconciler.policy.model import (
    GATE_KINDS,
    LIVE_KINDS,
    NAME_PATTERN,
    NOTIFY_KINDS,
    Gate,
    LiveSource,
    NotifySink,
)
from reconciler.policy.positions import Path
from reconciler.policy.values import ItemValueError, describe

_NAME = re.compile(NAME_PATTERN)
# Tables keyed by a user-chosen name, and the union of kinds their entries may have.
_TAGGED_UNIONS: dict[object, dict[str, type[Any]]] = {
    Gate: GATE_KINDS,
    LiveSource: LIVE_KINDS,
    NotifySink: NOTIFY_KINDS,
}
_TYPE_WORDS = {str: "a string", bool: "a boolean (true or false)", int: "an integer"}


class _Invalid(Exception):
    """The value was recorded as a problem; the caller substitutes a placeholder."""


def decode(cls: type[Any], raw: Mapping[str, Any], problems: Problems, path: Path = ()) -> Any:
    """Build ``cls`` from a TOML table, recording problems instead of raising."""
    return _table(cls, raw, problems, path, name=None)


_FIELDS: dict[type[Any], tuple[tuple[dataclasses.Field[Any], Any], ...]] = {}


def fields_of(cls: type[Any]) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """The dataclass fields of ``cls`` with their resolved type hints (resolved once:
    get_type_hints is most of the cost of decoding a 1,000-app policy)."""
    if cls not in _FIELDS:
        hints = typing.get_type_hints(cls)
        _FIELDS[cls] = tuple((f, hints[f.name]) for f in dataclasses.fields(cls))
    return _FIELDS[cls]


def has_default(field: dataclasses.Field[Any]) -> bool:
    """True when the key may be left out."""
    return (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    )


def default_of(field: dataclasses.Field[Any]) -> Any:
    """The value used when the key is left out (has_default must be true)."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def optional_inner(hint: Any) -> Any:
    """``X | None`` -> ``X``; other hints unchanged."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def tagged_kinds(hint: Any) -> dict[str, type[Any]] | None:
    """The kinds of a tagged union such as Gate, or None for other hints."""
    for union, kinds in _TAGGED_UNIONS.items():
        if hint == union:
            return kinds
    return None


def _table(
    cls: type[Any], raw: Mapping[str, Any], problems: Problems, path: Path, name: str | None
) -> Any:
    fields = fields_of(cls)
    keys = [f.name for f, _ in fields if not f.metadata["from_key"]]
    for key in raw:
        if key not in keys:
            where = f"in {table_name(path)}" if path else "at the top level"
            problems.add(
                (*path, key),
                f'unknown key "{key}" {where}{suggest(key, keys)}',
                "unknown-key",
                anchor="key",
            )
    kwargs: dict[str, Any] = {}
    for field, hint in fields:
        if field.metadata["from_key"]:
            kwargs[field.name] = name
            continue
        if field.name not in raw:
            if not has_default(field):
                problems.add(
                    path,
                    f'{table_name(path)} is missing the required key "{field.name}"'
                    if path
                    else f'missing the required top-level key "{field.name}"',
                    "missing-key",
                    anchor="key",
                )
                kwargs[field.name] = _placeholder(hint)
            continue
        try:
            kwargs[field.name] = _value(field, hint, raw[field.name], problems, (*path, field.name))
        except _Invalid:
            kwargs[field.name] = default_of(field) if has_default(field) else _placeholder(hint)
    return cls(**kwargs)


def _value(
    field: dataclasses.Field[Any], hint: Any, raw: Any, problems: Problems, path: Path
) -> Any:
    parse = field.metadata["parse"]
    if parse is not None:
        try:
            return parse(raw)
        except ItemValueError as exc:
            problems.add((*path, exc.index), f"{key_name(path)}: {exc}", "invalid-value")
            problems.bad.add(path)
            raise _Invalid from None
        except ValueError as exc:
            problems.add(path, f"{key_name(path)}: {exc}", "invalid-value")
            raise _Invalid from None
    return _typed(optional_inner(hint), raw, problems, path)


def _typed(hint: Any, raw: Any, problems: Problems, path: Path) -> Any:
    origin = typing.get_origin(hint)
    if hint in _TYPE_WORDS:
        if type(raw) is not hint:
            _type_error(problems, path, _TYPE_WORDS[hint], raw)
        if hint is str and not raw.strip():
            problems.add(path, f"{key_name(path)}: must not be empty", "invalid-value")
            raise _Invalid
        return raw
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if raw not in choices:
            shown = ", ".join(f'"{c}"' for c in choices)
            hint_text = suggest(raw, choices, listing=False) if isinstance(raw, str) else ""
            problems.add(
                path,
                f"{key_name(path)}: expected one of {shown}, got {describe(raw)}{hint_text}",
                "invalid-value",
            )
            raise _Invalid
        return raw
    if origin is tuple:
        if not isinstance(raw, list):
            _type_error(problems, path, "an array of strings", raw)
        for index, item in enumerate(raw):
            if not isinstance(item, str) or not item.strip():
                _type_error(problems, (*path, index), "a non-empty string", item)
        return tuple(raw)
    if dataclasses.is_dataclass(hint):
        if not isinstance(raw, dict):
            _type_error(problems, path, "a table", raw)
        return _table(typing.cast(type[Any], hint), raw, problems, path, name=None)
    if origin is Mapping:
        return _named_tables(typing.get_args(hint)[1], raw, problems, path)
    raise TypeError(f"policy model uses an unsupported type at {path}: {hint}")  # pragma: no cover


def _named_tables(item_hint: Any, raw: Any, problems: Problems, path: Path) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        _type_error(problems, path, "a table", raw)
    kinds = tagged_kinds(item_hint)
    out: dict[str, Any] = {}
    for name, body in raw.items():
        here = (*path, name)
        if not _NAME.match(name):
            problems.add(
                here,
                f'"{name}" is not a valid name: use letters, digits, ".", "_" and "-", '
                "starting and ending with a letter or digit, at most 63 characters",
                "invalid-name",
                anchor="key",
            )
            continue
        if not isinstance(body, dict):
            problems.add(here, f"{key_name(here)}: expected a table, got {describe(body)}", "type")
            continue
        cls = item_hint
        if kinds is not None:
            kind = body.get("kind")
            shown = ", ".join(f'"{k}"' for k in kinds)
            if kind is None:
                problems.add(
                    here,
                    f'{table_name(here)} needs a "kind": one of {shown}',
                    "missing-key",
                    anchor="key",
                )
                continue
            if not isinstance(kind, str) or kind not in kinds:
                extra = suggest(kind, kinds, listing=False) if isinstance(kind, str) else ""
                problems.add(
                    (*here, "kind"),
                    f"{key_name(here)}.kind: expected one of {shown}, got {describe(kind)}{extra}",
                    "invalid-value",
                )
                continue
            cls = kinds[kind]
        out[name] = _table(cls, body, problems, here, name=name)
    return MappingProxyType(out)


def _type_error(problems: Problems, path: Path, expected: str, raw: Any) -> typing.NoReturn:
    problems.add(path, f"{key_name(path)}: expected {expected}, got {describe(raw)}", "type")
    raise _Invalid


def _placeholder(hint: Any) -> Any:
    hint = optional_inner(hint)
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return typing.get_args(hint)[0]
    if origin is tuple:
        return ()
    if origin is Mapping:
        return MappingProxyType({})
    if hint is timedelta:
        return timedelta(0)
    return {str: "", bool: False, int: 0}.get(hint)
