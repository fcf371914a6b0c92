"""The key-by-key reference in docs/policy.md, generated from policy.model."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from typing import Any

from reconciler.policy import model
from reconciler.policy.decode import fields_of, has_default, optional_inner
from reconciler.policy.schema import toml_default

BEGIN = "<!-- BEGIN GENERATED REFERENCE: reconciler schema --format markdown -->"
END = "<!-- END GENERATED REFERENCE -->"

_SECTIONS: list[tuple[str, type[Any]]] = [
    ("top level", model.Policy),
    ("[settings]", model.Settings),
    ("[registry]", model.Registry),
    ("[apps.NAME]", model.App),
    ("[apps.NAME.helm]", model.HelmKeys),
    ("[environments.NAME]", model.Environment),
    ('[gates.NAME] with kind = "http"', model.HttpGate),
    ('[gates.NAME] with kind = "soak"', model.SoakGate),
    ('[gates.NAME] with kind = "window"', model.WindowGate),
    ('[gates.NAME] with kind = "argocd"', model.ArgoCDGate),
    ('[live.ENV] with kind = "kubernetes"', model.KubernetesLive),
    ('[live.ENV] with kind = "http"', model.HttpLive),
    ('[live.ENV] with kind = "registry-tag"', model.RegistryTagLive),
    ('[live.ENV] with kind = "argocd"', model.ArgoCDLive),
]


def reference_markdown() -> str:
    """Markdown tables: every key, its type, default, meaning and an example."""
    out = [BEGIN, ""]
    for title, cls in _SECTIONS:
        out += [f"### {title}", "", (cls.__doc__ or "").strip(), ""]
        out += ["| key | type | default | meaning | example |", "|---|---|---|---|---|"]
        for field, hint in fields_of(cls):
            if field.metadata["from_key"]:
                continue
            default = toml_default(field)
            shown_default = _toml(default) if has_default(field) else "required"
            example = field.metadata["example"]
            out.append(
                f"| `{field.name}` | {_type_word(field, hint)} | {shown_default} | "
                f"{field.metadata['doc']} | {_toml(example)} |"
            )
        out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def _toml(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{json.dumps(k) if '.' in k else k} = {_plain(v)}" for k, v in value.items()
        )
        return f"`{{ {inner} }}`"
    return f"`{_plain(value)}`"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value, ensure_ascii=False)


def _type_word(field: dataclasses.Field[Any], hint: Any) -> str:
    schema = field.metadata["schema"] or {}
    if "pattern" in schema and schema["pattern"].startswith("^(\\d+d)"):
        return "duration"
    if schema.get("pattern") == "^https?://":
        return "URL"
    hint = optional_inner(hint)
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{c}"`' for c in typing.get_args(hint))
    if origin is tuple:
        return "array of strings"
    if origin is Mapping:
        return "table of strings" if typing.get_args(hint)[1] is str else "table of tables"
    if "oneOf" in schema:
        return "integer or array of integers"
    if schema.get("type") == "object":
        return "table"
    if dataclasses.is_dataclass(hint):
        return "table"
    return {str: "string", bool: "boolean", int: "integer"}.get(hint, str(hint))
