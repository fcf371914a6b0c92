"""The generated reference names each key's type as the decoder's annotation declares it,
and each example it shows is accepted by the validator and by the JSON Schema."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import typing
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

import jsonschema
import pytest
import tomli_w

from reconciler.policy import load_policy
from reconciler.policy.decode import fields_of, has_default, optional_inner, tagged_kinds
from reconciler.policy.model import (
    GATE_KINDS,
    LIVE_KINDS,
    App,
    ArgoCDLive,
    Environment,
    Gate,
    HelmKeys,
    HttpGate,
    HttpLive,
    ImagePart,
    LiveSource,
    NotifySink,
    Policy,
    Registry,
    Settings,
)
from reconciler.policy.notify import NOTIFY_KINDS, NotifyEvent, SecretRef
from reconciler.policy.reference import SECTIONS, reference_markdown
from reconciler.policy.schema import policy_schema
from reconciler.policy.values import FreezeRange, WeeklyWindow

# The tables of a small valid policy. Its names are the ones the model's examples refer to
# (the gates staging-health and soak, the environments dev, staging and prod), so that an
# example such as `follows = "staging"` is checked in a policy where it makes sense.
BASE_TABLES = """\
[registry]
kind = "oci"

[apps.shop]
image = "registry.example.com/team/shop"

[apps.pair.images.app]
image = "registry.example.com/team/pair"

[apps.pair.images.migrate]
image = "registry.example.com/team/pair-migrations"

[environments.dev]
overlay = "overlays/dev"

[environments.staging]
follows = "dev"
overlay = "overlays/staging"

[environments.prod]
follows = "staging"
overlay = "overlays/prod"

[gates.staging-health]
kind = "http"
url = "https://staging.{app}.example.internal/healthz"

[gates.soak]
kind = "soak"
duration = "30m"
"""
BASE: dict[str, Any] = {"version": 1, **tomllib.loads(BASE_TABLES)}


def with_keys(
    document: Mapping[str, Any], path: tuple[str, ...], keys: Mapping[str, Any]
) -> dict[str, Any]:
    """A copy of ``document`` whose table at ``path`` (made when missing) also holds ``keys``."""
    out = copy.deepcopy(dict(document))
    table = out
    for name in path:
        table = table.setdefault(name, {})
    table.update(keys)
    return out


def problems(document: Mapping[str, Any]) -> list[str]:
    """What `reconciler validate` reports for ``document`` written out as a file."""
    return [str(d) for d in load_policy(tomli_w.dumps(document).encode()).diagnostics]


def test_the_base_policy_is_valid() -> None:
    assert problems(BASE) == []


# The type the reference must show for each annotation of the model. A parsed key's raw
# TOML value can differ from its annotation: the parser is what takes it in.
TYPE_OF: dict[Any, str] = {
    str: "string",
    int: "integer",
    bool: "boolean",
    timedelta: "duration",
    tuple[str, ...]: "array of strings",
    tuple[int, ...]: "integer or array of integers",  # values.parse_status_list takes one too
    tuple[WeeklyWindow, ...]: "array of strings",
    tuple[FreezeRange, ...]: "array of strings",
    Mapping[str, str]: "table of strings",
    Mapping[str, Any]: "table of values",  # expect_json: any JSON value, tables are paths
    Settings: "table",
    Registry: "table",
    HelmKeys: "table",
    Mapping[str, App]: "table of tables",
    Mapping[str, ImagePart]: "table of tables",
    Mapping[str, Environment]: "table of tables",
    Mapping[str, Gate]: "table of tables",
    Mapping[str, LiveSource]: "table of tables",
    Mapping[str, NotifySink]: "table of tables",
    SecretRef: "string",
    tuple[NotifyEvent, ...]: "array of strings",
}
# Keys annotated `str` whose parser takes only http(s) URLs.
URL_KEYS = {
    (Registry, "endpoint_url"),
    (HttpGate, "url"),
    (HttpLive, "url"),
    (ArgoCDLive, "server"),
}
KEYS = [
    (title, cls, field, hint)
    for title, cls in SECTIONS
    for field, hint in fields_of(cls)
    if not field.metadata["from_key"]
]


def _id(cls: type[Any], name: str) -> str:
    return f"{cls.__name__}.{name}"


def _expected_type(cls: type[Any], name: str, hint: Any) -> str:
    hint = optional_inner(hint)
    if typing.get_origin(hint) is Literal:
        return " \\| ".join(f'`"{choice}"`' for choice in typing.get_args(hint))
    if (cls, name) in URL_KEYS:
        assert hint is str, name
        return "URL"
    assert hint in TYPE_OF, f"{_id(cls, name)}: add {hint} to TYPE_OF with its reference type"
    return TYPE_OF[hint]


MARKDOWN = reference_markdown()


def _section(title: str) -> str:
    return MARKDOWN.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]


@pytest.mark.parametrize(
    ("title", "cls", "field", "hint"), KEYS, ids=[_id(k[1], k[2].name) for k in KEYS]
)
def test_the_reference_shows_the_annotated_type(
    title: str, cls: type[Any], field: dataclasses.Field[Any], hint: Any
) -> None:
    row = f"| `{field.name}` | {_expected_type(cls, field.name, hint)} |"
    assert any(line.startswith(row) for line in _section(title).splitlines()), row


def test_every_table_of_the_model_has_a_section() -> None:
    found: set[type[Any]] = set()
    pending: list[type[Any]] = [Policy]
    while pending:
        cls = pending.pop()
        found.add(cls)
        for _, hint in fields_of(cls):
            inner = optional_inner(hint)
            if typing.get_origin(inner) is Mapping:
                inner = typing.get_args(inner)[1]
            kinds = tagged_kinds(inner)
            tables = list(kinds.values()) if kinds else [inner]
            pending += [t for t in tables if dataclasses.is_dataclass(t) and t not in found]
    assert found == {cls for _, cls in SECTIONS}


def _home(cls: type[Any]) -> tuple[str, ...]:
    """Where a table of ``cls`` sits in BASE (a new one for a gate)."""
    if cls in GATE_KINDS.values():
        return ("gates", "checked")
    if cls in LIVE_KINDS.values():
        return ("live", "staging")
    if cls in NOTIFY_KINDS.values():
        return ("notify", "team")
    homes: dict[type[Any], tuple[str, ...]] = {
        Policy: (),
        Settings: ("settings",),
        Registry: ("registry",),
        App: ("apps", "shop"),
        HelmKeys: ("apps", "shop", "helm"),
        ImagePart: ("apps", "pair", "images", "migrate"),
        Environment: ("environments", "prod"),
    }
    return homes[cls]


def _required(cls: type[Any]) -> dict[str, Any]:
    """The keys a table of ``cls`` cannot leave out, each at its documented example or, for
    a choice such as `kind`, its first allowed value."""
    out = {}
    for field, hint in fields_of(cls):
        if field.metadata["from_key"] or has_default(field):
            continue
        example = field.metadata["example"]
        out[field.name] = typing.get_args(hint)[0] if example is None else example
    return out


EXAMPLES = [
    (cls, field.name, field.metadata["example"])
    for _, cls, field, _ in KEYS
    if field.metadata["example"] is not None
]


@pytest.mark.parametrize(
    ("cls", "key", "example"), EXAMPLES, ids=[_id(cls, key) for cls, key, _ in EXAMPLES]
)
def test_each_example_is_accepted_by_the_validator_and_the_schema(
    cls: type[Any], key: str, example: Any
) -> None:
    document = with_keys(BASE, _home(cls), {**_required(cls), key: example})
    assert problems(document) == [], tomli_w.dumps(document)
    jsonschema.validate(document, policy_schema())
