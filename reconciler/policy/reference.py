"""The key-by-key reference in docs/policy.md, rendered from the policy's JSON Schema.

Each row is read from policy.schema, which is built from the field annotations the decoder
checks (for a key with its own parser, from the raw-value schema declared beside it), so
the reference and schema.json cannot disagree; tests/unit/policy/test_reference.py holds
both to the annotations and to the validator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.policy import model
from reconciler.policy.keys import DURATION_SCHEMA, URL_SCHEMA
from reconciler.policy.schema import policy_schema

BEGIN = "<!-- BEGIN GENERATED REFERENCE: reconciler schema --format markdown -->"
END = "<!-- END GENERATED REFERENCE -->"

SECTIONS: list[tuple[str, type[Any]]] = [
    ("top level", model.Policy),
    ("[settings]", model.Settings),
    ("[registry]", model.Registry),
    ("[apps.NAME]", model.App),
    ("[apps.NAME.helm]", model.HelmKeys),
    ("[apps.NAME.images.PART]", model.ImagePart),
    ("[environments.NAME]", model.Environment),
    ('[gates.NAME] with kind = "http"', model.HttpGate),
    ('[gates.NAME] with kind = "soak"', model.SoakGate),
    ('[gates.NAME] with kind = "window"', model.WindowGate),
    ('[gates.NAME] with kind = "argocd"', model.ArgoCDGate),
    ('[gates.NAME] with kind = "checks"', model.ChecksGate),
    ('[live.ENV] with kind = "kubernetes"', model.KubernetesLive),
    ('[live.ENV] with kind = "http"', model.HttpLive),
    ('[live.ENV] with kind = "registry-tag"', model.RegistryTagLive),
    ('[live.ENV] with kind = "argocd"', model.ArgoCDLive),
    ('[notify.NAME] with kind = "slack"', model.SlackSink),
    ('[notify.NAME] with kind = "teams"', model.TeamsSink),
    ('[notify.NAME] with kind = "webhook"', model.WebhookSink),
]
_STRING_KINDS = {DURATION_SCHEMA["pattern"]: "duration", URL_SCHEMA["pattern"]: "URL"}
_SCALARS = {"boolean": "boolean", "integer": "integer"}


def reference_markdown() -> str:
    """Markdown tables: every key, its type, default, meaning and an example."""
    schema = policy_schema()
    out = [BEGIN, ""]
    for title, cls in SECTIONS:
        definition = section_schema(schema, cls)
        out += [f"### {title}", "", definition["description"], ""]
        out += ["| key | type | default | meaning | example |", "|---|---|---|---|---|"]
        required = definition.get("required", [])
        for key, prop in definition["properties"].items():
            default = "required" if key in required else _toml(prop.get("default"))
            example = _toml(prop["examples"][0]) if "examples" in prop else ""
            out.append(
                f"| `{key}` | {type_words(prop)} | {default} | {prop['description']} | {example} |"
            )
        out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def section_schema(schema: Mapping[str, Any], cls: type[Any]) -> Mapping[str, Any]:
    """The part of ``schema`` (policy_schema's) that describes a table of ``cls``."""
    return schema if cls is model.Policy else schema["$defs"][cls.__name__]


def type_words(schema: Mapping[str, Any]) -> str:
    """The reference's name for the TOML values a key's JSON Schema allows."""
    if "enum" in schema:
        return " \\| ".join(f"`{_plain(choice)}`" for choice in schema["enum"])
    if "oneOf" in schema:
        # Every kind of a tagged union is a table: name it once.
        return " or ".join(dict.fromkeys(type_words(choice) for choice in schema["oneOf"]))
    if "$ref" in schema:
        return "table"
    kind = schema.get("type")
    if kind == "string":
        return _STRING_KINDS.get(schema.get("pattern", ""), "string")
    if kind == "array":
        return f"array of {type_words(schema['items'])}s"
    if kind == "object":
        items = schema.get("additionalProperties")
        # Without a schema for its values, a table may hold any value (expect_json).
        return f"table of {type_words(items)}s" if isinstance(items, Mapping) else "table of values"
    if kind in _SCALARS:
        return _SCALARS[kind]
    raise TypeError(f"the reference has no name for the schema {schema}")


def _toml(value: Any) -> str:
    if value is None:
        return ""
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
