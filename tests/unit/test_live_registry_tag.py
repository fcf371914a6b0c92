"""The registry-tag live source over the fake registry (checked against the real one in
tests/contract/test_registry_contract.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler import units
from reconciler.live.registry_tag import RegistryTagLiveReader
from reconciler.policy.model import RegistryTagLive
from tests.fakes.registry import FakeRegistry

REPO = "registry.example.com/team/gw"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_the_tag_tells_what_runs_and_since_when_it_was_first_seen() -> None:
    registry = FakeRegistry()
    first = registry.push_image(REPO, "production", "v1")
    now = [T0]
    reader = RegistryTagLiveReader(
        RegistryTagLive(env="prod", kind="registry-tag", tag="production"),
        registry,
        {"gw": REPO},
        lambda: now[0],
    )
    state = reader.read([("gw", "prod")])[("gw", "prod")]
    assert (state.digest, state.since, state.error) == (first, T0, None)
    now[0] = T0 + timedelta(minutes=5)
    second = registry.push_image(REPO, "production", "v2")
    moved = reader.read([("gw", "prod")])[("gw", "prod")]
    assert (moved.digest, moved.since) == (second, T0 + timedelta(minutes=5))


def test_missing_tag_and_unreachable_registry_are_errors_not_exceptions() -> None:
    registry = FakeRegistry()
    registry.push_image(REPO, "v1", "v1")
    source = RegistryTagLive(env="prod", kind="registry-tag", tag="production")
    reader = RegistryTagLiveReader(source, registry, {"gw": REPO}, lambda: T0)
    missing = reader.read([("gw", "prod"), ("other", "prod")])
    assert missing[("gw", "prod")].error == f"{REPO} has no tag production yet"
    assert missing[("other", "prod")].error == "no image is known for other"
    registry.unreachable = True
    down = reader.read([("gw", "prod")])[("gw", "prod")]
    assert down.digest is None
    assert down.error


def test_a_unit_runs_the_set_its_parts_tags_point_to() -> None:
    migrate = "registry.example.com/team/gw-migrations"
    registry = FakeRegistry()
    api = registry.push_image(REPO, "production", "v1")
    source = RegistryTagLive(env="prod", kind="registry-tag", tag="production")
    reader = RegistryTagLiveReader(
        source, registry, {}, lambda: T0, {"gw": {"api": REPO, "migrate": migrate}}
    )
    half = reader.read([("gw", "prod")])[("gw", "prod")]
    assert (half.digest, half.error) == (None, f"migrate: {migrate} has no tag production yet")
    done = registry.push_image(migrate, "production", "v1")
    whole = reader.read([("gw", "prod")])[("gw", "prod")]
    assert (whole.digest, whole.since) == (units.key({"api": api, "migrate": done}), T0)
