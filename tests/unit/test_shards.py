"""Shards: every app belongs to exactly one replica; growing the fleet moves few apps."""

from __future__ import annotations

from collections import Counter

import pytest

from reconciler.errors import PermanentError
from reconciler.policy.model import App, Policy
from reconciler.shards import ALL, Shard, bucket, parse_shard

APPS = [f"svc-{n:04d}" for n in range(2000)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0/1", Shard(0, 1)), ("2/3", Shard(2, 3)), (" 0/16 ", Shard(0, 16))],
)
def test_shard_specs_that_parse(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["", "1", "3/3", "-1/3", "0/0", "a/b", "1/2/3", "0.5/2"])
def test_shard_specs_that_are_refused_say_what_to_write(text: str) -> None:
    with pytest.raises(PermanentError, match="INDEX"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_app_belongs_to_exactly_one_replica(count: int) -> None:
    shards = [Shard(i, count) for i in range(count)]
    for app in APPS:
        assert sum(shard.owns(app) for shard in shards) == 1
    sizes = Counter(bucket(app, count) for app in APPS)
    assert set(sizes) == set(range(count))
    assert max(sizes.values()) - min(sizes.values()) < len(APPS) / count / 3  # roughly even


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_one_more_replica_takes_apps_only_for_itself(count: int) -> None:
    moved = [app for app in APPS if bucket(app, count) != bucket(app, count + 1)]
    assert all(bucket(app, count + 1) == count for app in moved)
    assert len(moved) < 1.5 * len(APPS) / (count + 1)


def test_owners_are_fixed_values_not_per_process_ones() -> None:
    # Replicas of different versions must agree on owners, so these are part of the
    # contract (Python's own hash() is salted per process and could not serve).
    assert [bucket(app, 5) for app in APPS[:8]] == [2, 4, 4, 4, 4, 2, 2, 4]
    assert [bucket(app, 3) for app in ("order-gateway", "payments", "web")] == [0, 0, 1]


def test_narrow_keeps_the_replicas_apps_and_everything_else() -> None:
    policy = Policy(1, apps={app: App(name=app, image=f"r.io/{app}") for app in APPS[:50]})
    narrowed = Shard(1, 3).narrow(policy)
    assert set(narrowed.apps) == {app for app in APPS[:50] if bucket(app, 3) == 1}
    assert narrowed.environments == policy.environments
    assert ALL.narrow(policy) is policy
