"""Which environments are production: the end of the chain, unless ``production`` says."""

from __future__ import annotations

import pytest

from reconciler.policy import Policy, load_policy

# dev -> staging -> prod, and dev -> preview: two ends of the chain.
CHAIN = """\
version = 1

[apps.gw]
image = "registry.example.com/team/gw"

[environments.dev]
overlay = "overlays/dev"

[environments.staging]
follows = "dev"
overlay = "overlays/staging"

[environments.prod]
follows = "staging"
overlay = "overlays/prod"

[environments.preview]
follows = "dev"
overlay = "overlays/preview"
"""


def policy(extra: dict[str, str] | None = None) -> Policy:
    text = CHAIN
    for env, line in (extra or {}).items():
        header = f"[environments.{env}]\n"
        text = text.replace(header, f"{header}{line}\n")
    result = load_policy(text.encode())
    assert result.policy is not None, result.diagnostics
    return result.policy


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # Default: production where no environment follows (prod, and preview too).
        ({}, {"dev": False, "staging": False, "prod": True, "preview": True}),
        # The key overrides the default either way.
        (
            {"preview": "production = false", "staging": "production = true"},
            {"dev": False, "staging": True, "prod": True, "preview": False},
        ),
        (
            {"prod": "production = false"},
            {"dev": False, "staging": False, "prod": False, "preview": True},
        ),
    ],
    ids=["default-end-of-chain", "overridden", "prod-turned-off"],
)
def test_production_is_the_end_of_the_chain_unless_the_key_says(
    extra: dict[str, str], expected: dict[str, bool]
) -> None:
    loaded = policy(extra)
    assert {env: loaded.is_production(env) for env in expected} == expected


def test_an_environment_the_policy_does_not_name_is_not_production() -> None:
    assert policy().is_production("qa") is False


def test_production_must_be_a_boolean() -> None:
    text = CHAIN.replace("[environments.prod]\n", '[environments.prod]\nproduction = "yes"\n')
    (diagnostic,) = load_policy(text.encode()).diagnostics
    assert str(diagnostic) == (
        "promotions.toml:14:14: environments.prod.production: expected a boolean (true or "
        'false), got string "yes"'
    )
