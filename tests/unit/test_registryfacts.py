"""A cycle's registry facts (registryfacts.registry_facts) read through the fake registry:
one batched read of each repository's tags, then one of its digests."""

from __future__ import annotations

from reconciler.overlays.imageref import ImagePin
from reconciler.policy import Policy, load_policy
from reconciler.registryfacts import registry_facts
from reconciler.snapshot import DigestFact, Key, OverlayState, TagFact
from tests.fakes.registry import FakeRegistry

CART = "registry.example.com/shop/cart"
GATE = "registry.example.com/shop/gate"
POLICY = f"""
version = 1
[registry]
kind = "oci"
[apps.cart]
image = "{CART}"
[apps.gate]
image = "{GATE}"
[environments.dev]
overlay = "overlays/dev/{{app}}"
[environments.staging]
overlay = "overlays/staging/{{app}}"
follows = "dev"
auto_merge = true
registry_tag = "staging"
[environments.prod]
overlay = "overlays/prod/{{app}}"
follows = "staging"
registry_tag = "production"
"""


def _policy() -> Policy:
    loaded = load_policy(POLICY.encode())
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy


def _overlays(pins: dict[Key, ImagePin]) -> dict[Key, OverlayState]:
    return {
        (app, env): OverlayState(path=f"overlays/{env}/{app}/kustomization.yaml", pin=pin)
        for (app, env), pin in pins.items()
    }


def test_each_repository_is_asked_once_for_its_tags_and_once_for_its_digests() -> None:
    registry = FakeRegistry()
    cart1 = registry.push_image(CART, "v1", "cart 1")
    cart2 = registry.push_image(CART, "v2", "cart 2")
    registry.push_image(CART, "staging", "cart 1")
    gate1 = registry.push_image(GATE, "staging", "gate 1")
    registry.push_image(GATE, "production", "gate 1")
    gate2 = registry.push_image(GATE, None, "gate 2")
    overlays = _overlays(
        {
            ("cart", "dev"): ImagePin(CART, tag="v2"),  # CI pinned the tag only
            ("cart", "staging"): ImagePin(CART, digest=cart1),
            ("cart", "prod"): ImagePin(CART, digest=cart1),
            ("gate", "dev"): ImagePin(GATE, digest=gate2),
            ("gate", "staging"): ImagePin(GATE, digest=gate1),
            ("gate", "prod"): ImagePin(GATE, digest=gate1),
        }
    )

    tags, digests = registry_facts(_policy(), overlays, registry)

    assert tags == {
        (CART, "production"): TagFact(None),
        (CART, "staging"): TagFact(cart1),
        (CART, "v2"): TagFact(cart2),
        (GATE, "production"): TagFact(gate1),
        (GATE, "staging"): TagFact(gate1),
    }
    assert digests == {
        (CART, cart2): DigestFact(exists=True),
        (GATE, gate2): DigestFact(exists=True),
    }
    batched = [call for call in registry.calls if call[0].endswith("_all")]
    assert batched == [
        ("resolve_all", CART, "production", "staging", "v2"),
        ("resolve_all", GATE, "production", "staging"),
        ("exists_all", CART, cart2),
        ("exists_all", GATE, gate2),
    ]
    assert registry.cycles == 1


def test_a_settled_repo_asks_only_for_the_environment_tags() -> None:
    registry = FakeRegistry()
    cart = registry.push_image(CART, "staging", "cart 1")
    overlays = _overlays(
        {("cart", env): ImagePin(CART, digest=cart) for env in ("dev", "staging", "prod")}
    )
    tags, digests = registry_facts(_policy(), overlays, registry)
    assert tags[(CART, "staging")] == TagFact(cart)
    assert digests == {}
    assert [call[:2] for call in registry.calls if call[0].endswith("_all")] == [
        ("resolve_all", CART),
        ("resolve_all", GATE),
    ]


def test_an_unreachable_registry_leaves_every_fact_unknown_with_its_reason() -> None:
    registry = FakeRegistry()
    registry.unreachable = True
    digest = "sha256:" + "1" * 64
    overlays = _overlays(
        {
            ("cart", "dev"): ImagePin(CART, tag="v2"),
            ("gate", "dev"): ImagePin(GATE, digest=digest),
        }
    )
    tags, digests = registry_facts(_policy(), overlays, registry)
    assert set(tags) == {
        (CART, "production"),
        (CART, "staging"),
        (CART, "v2"),
        (GATE, "production"),
        (GATE, "staging"),
    }
    assert digests.keys() == {(GATE, digest)}
    errors = [fact.error for fact in tags.values()] + [fact.error for fact in digests.values()]
    assert all(error and "unreachable" in error for error in errors), errors
