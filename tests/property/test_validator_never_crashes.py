"""Arbitrary input never crashes the validator, and every error it reports has a position."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.policy import LoadResult, load_policy

EXAMPLE = Path(__file__).parents[2] / "promotion-policies/examples/order-gateway/promotions.toml"


def _check(result: LoadResult, text_lines: int) -> None:
    assert result.ok == (result.policy is not None)
    assert result.ok == (not result.diagnostics)
    for diagnostic in result.diagnostics:
        assert diagnostic.line >= 1
        assert diagnostic.column >= 1
        assert diagnostic.line <= text_lines + 1
        assert diagnostic.message


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(load_policy(data), data.count(b"\n") + 1)


_keys = st.sampled_from(
    [
        "version",
        "settings",
        "apps",
        "environments",
        "gates",
        "live",
        "registry",
        "follows",
        "overlay",
        "gates",
        "kind",
        "url",
        "image",
        "mode",
        "auto_merge",
        "require_codeowners",
        "duration",
        "allow",
        "hold",
        "x",
        "dev",
        "prod",
        "soak",
        "http",
        "window",
    ]
) | st.text(min_size=1, max_size=6)
_scalars = (
    st.integers(-5, 3)
    | st.booleans()
    | st.sampled_from(
        [
            "dev",
            "prod",
            "http",
            "soak",
            "5m",
            "https://{app}/",
            "overlays/dev",
            "window",
            "commit",
            "../x",
            "",
        ]
    )
    | st.text(max_size=10)
    | st.datetimes()
    | st.floats(allow_nan=False)
)
_documents = st.recursive(
    st.dictionaries(_keys, _scalars, max_size=5),
    lambda children: st.dictionaries(
        _keys,
        children | st.lists(children, max_size=2) | st.lists(_scalars, max_size=3),
        max_size=5,
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_documents)
def test_arbitrary_toml_documents(document: dict[str, Any]) -> None:
    text = tomli_w.dumps(document)
    _check(load_policy(text.encode()), text.count("\n") + 1)


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    """The example policy with one part replaced by something arbitrary."""
    base = tomllib.loads(EXAMPLE.read_text())

    def mutate(path: list[str], replacement: Any) -> dict[str, Any]:
        doc = tomllib.loads(EXAMPLE.read_text())
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node
        if isinstance(node, dict):
            node[path[-1]] = replacement
        return doc

    paths: list[list[str]] = []

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                paths.append([*path, key])
                walk(value, [*path, key])

    walk(base, [])
    return st.builds(mutate, st.sampled_from(paths), _scalars | _documents)


@settings(max_examples=400, deadline=None)
@given(_mutations())
def test_mutated_example_policies(document: dict[str, Any]) -> None:
    text = tomli_w.dumps(document)
    _check(load_policy(text.encode()), text.count("\n") + 1)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200) | _documents.map(tomli_w.dumps))
def test_cli_exit_code_is_0_or_1(tmp_path: Path, text: str) -> None:
    policy = tmp_path / "promotions.toml"
    policy.write_text(text, encoding="utf-8")
    assert main(["validate", "--json", str(policy)]) in (0, 1)
