"""The `http` live source against real version endpoints on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reconciler import units
from reconciler.demo.services import SampleServices
from reconciler.httpclient.client import HttpClient
from reconciler.live.http import HttpLiveReader
from reconciler.policy.model import HttpLive

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def services() -> Iterator[SampleServices]:
    running = SampleServices(lambda: T0 - timedelta(hours=1)).start()
    yield running
    running.stop()


def reader(
    services: SampleServices, clock: Clock, field: str = "digest", since_field: str | None = None
) -> HttpLiveReader:
    source = HttpLive(
        env="prod",
        kind="http",
        url=services.base_url + "/{env}/{app}/version",
        field=field,
        since_field=since_field,
        timeout=timedelta(seconds=2),
    )
    return HttpLiveReader(source, HttpClient(trust_env=False), clock)


def test_digest_and_since_from_the_endpoint(services: SampleServices) -> None:
    services.deploy("prod", "gw", D1)
    state = reader(services, Clock(), since_field="started_at").read([("gw", "prod")])[
        ("gw", "prod")
    ]
    assert (state.digest, state.since, state.error) == (D1, T0 - timedelta(hours=1), None)


def test_without_since_field_the_first_sighting_counts(services: SampleServices) -> None:
    clock = Clock()
    live = reader(services, clock)
    services.deploy("prod", "gw", D1)
    first = live.read([("gw", "prod")])[("gw", "prod")]
    clock.now = T0 + timedelta(minutes=5)
    again = live.read([("gw", "prod")])[("gw", "prod")]
    services.deploy("prod", "gw", D2)
    changed = live.read([("gw", "prod")])[("gw", "prod")]
    assert (first.since, again.since) == (T0, T0)
    assert (changed.digest, changed.since) == (D2, T0 + timedelta(minutes=5))


def test_errors_are_reported_per_app(services: SampleServices) -> None:
    services.deploy("prod", "gw", D1)
    states = reader(services, Clock(), field="nope").read([("gw", "prod"), ("absent", "prod")])
    assert states[("gw", "prod")].error == "no digest at 'nope' in the answer"
    assert states[("absent", "prod")].error == "version endpoint answered 404"
    assert all(s.digest is None for s in states.values())


def test_unreachable_endpoint_is_an_error_not_an_exception() -> None:
    source = HttpLive(
        env="prod", kind="http", url="http://127.0.0.1:9/{app}", timeout=timedelta(seconds=1)
    )
    state = HttpLiveReader(source, HttpClient(trust_env=False), Clock()).read([("gw", "prod")])
    assert state[("gw", "prod")].digest is None
    assert state[("gw", "prod")].error


def test_an_unchanged_version_is_asked_conditionally_and_keeps_its_state(
    services: SampleServices,
) -> None:
    clock = Clock()
    live = reader(services, clock)
    services.deploy("prod", "gw", D1)
    first = live.read([("gw", "prod")])[("gw", "prod")]
    clock.now = T0 + timedelta(minutes=5)
    again = live.read([("gw", "prod")])[("gw", "prod")]
    assert again is first  # the endpoint's 304 answered: the remembered state, no new body
    services.deploy("prod", "gw", D2)
    changed = live.read([("gw", "prod")])[("gw", "prod")]
    assert (changed.digest, changed.since) == (D2, T0 + timedelta(minutes=5))


def test_a_digest_running_again_counts_from_its_return(services: SampleServices) -> None:
    clock = Clock()
    live = reader(services, clock)
    services.deploy("prod", "gw", D1)
    live.read([("gw", "prod")])
    clock.now = T0 + timedelta(minutes=5)
    services.deploy("prod", "gw", D2)
    live.read([("gw", "prod")])
    clock.now = T0 + timedelta(minutes=9)
    services.deploy("prod", "gw", D1)  # rolled back: D1's soak starts again
    back = live.read([("gw", "prod")])[("gw", "prod")]
    assert (back.digest, back.since) == (D1, T0 + timedelta(minutes=9))


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("sha256:abc", "sha256 takes 64 lower-case hex digits, not 3"),
        ("not-a-digest", "it is not ALGORITHM:ENCODED"),
        ("blake3:" + "1" * 64, "the algorithm 'blake3' is not accepted"),
    ],
)
def test_an_answer_that_is_no_digest_is_an_error(
    services: SampleServices, answer: str, problem: str
) -> None:
    services.deploy("prod", "gw", answer)
    state = reader(services, Clock()).read([("gw", "prod")])[("gw", "prod")]
    assert state.digest is None
    assert state.error == (
        f"'digest' in the answer is no digest: {problem} (accepted: sha256:<64 lower-case "
        "hex digits> or sha512:<128 lower-case hex digits>)"
    )


def test_a_sha512_digest_is_a_digest(services: SampleServices) -> None:
    digest = "sha512:" + "5" * 128
    services.deploy("prod", "gw", digest)
    assert reader(services, Clock()).read([("gw", "prod")])[("gw", "prod")].digest == digest


def test_a_unit_runs_the_set_its_endpoint_names_part_by_part(services: SampleServices) -> None:
    # The sample services answer {"digest": {"api": ..., "migrate": ...}} for a unit.
    key = units.key({"api": D1, "migrate": D2})
    services.deploy("prod", "ledger", key)
    state = reader(services, Clock(), since_field="started_at").read([("ledger", "prod")])[
        ("ledger", "prod")
    ]
    assert (state.digest, state.since, state.error) == (key, T0 - timedelta(hours=1), None)
