"""The JSON Schema and the docs reference are generated from the model and kept in sync."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.policy.reference import BEGIN, END, reference_markdown
from reconciler.policy.schema import policy_schema, schema_text
from tests.conftest import EXAMPLES, ROOT

REGENERATE = "run: reconciler schema > promotion-policies/schema.json"


def test_schema_file_is_the_command_output() -> None:
    exe = Path(sys.executable).with_name("reconciler")
    printed = subprocess.run(
        [str(exe), "schema"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert printed == schema_text()
    assert (ROOT / "promotion-policies/schema.json").read_text() == printed, REGENERATE


def test_docs_reference_is_current() -> None:
    docs = (ROOT / "docs/policy.md").read_text()
    start, end = docs.index(BEGIN), docs.index(END) + len(END) + 1
    assert docs[start:end] == reference_markdown(), (
        "docs/policy.md is out of date; replace its generated section with the output of "
        "`reconciler schema --format markdown`"
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(policy_schema())


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_examples_satisfy_the_schema(example: Path) -> None:
    document = tomllib.loads((example / "promotions.toml").read_text())
    jsonschema.validate(document, policy_schema())


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(policy_schema())
    return [e.message for e in validator.iter_errors(document)]


def test_schema_rejects_what_the_validator_rejects() -> None:
    base = tomllib.loads(
        (ROOT / "promotion-policies/examples/order-gateway/promotions.toml").read_text()
    )
    base["environments"]["prod"]["folows"] = "staging"
    assert any("folows" in e for e in _errors(base))
    base = tomllib.loads(
        (ROOT / "promotion-policies/examples/order-gateway/promotions.toml").read_text()
    )
    base["gates"]["soak"]["duration"] = "thirty minutes"
    assert _errors(base)


def test_every_key_is_documented() -> None:
    schema = policy_schema()
    for name, definition in schema["$defs"].items():
        assert definition["description"], name
        for key, prop in definition["properties"].items():
            assert prop["description"], f"{name}.{key}"
