"""The status view: what GET /status serves, and how `status --daemon` reads it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from reconciler import overview
from reconciler.cli import main
from reconciler.daemonview import read_view, status_url
from reconciler.errors import PolicyError, TransientError
from reconciler.metrics import Metrics
from reconciler.planning import plan
from reconciler.server import Status, StatusServer
from reconciler.verbs import fleet_json
from tests.ports import free_port
from tests.unit.test_planning import NEW, NOW, OLD, POLICY, policy, request, snapshot


@pytest.fixture
def latest() -> overview.Latest:
    return overview.Latest()


@pytest.fixture
def served(latest: overview.Latest) -> Iterator[StatusServer]:
    status = Status((True, "ok"), (True, "ready"))
    server = StatusServer(
        "127.0.0.1:0", Metrics(), lambda: status, view=lambda: latest.encoded(lambda: NOW)
    ).start()
    yield server
    server.stop()


def _publish(latest: overview.Latest) -> None:
    held = {("gw", "prod"): request(NEW)}
    view = snapshot(requests=held)
    latest.publish(policy(), view, plan(policy(), view, NOW))


def test_status_is_503_until_a_cycle_had_a_policy(
    served: StatusServer, latest: overview.Latest
) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://{served.address}/status", timeout=5)
    assert refused.value.code == 503
    assert "see /readyz" in refused.value.read().decode()
    with pytest.raises(TransientError, match="has no view yet: no cycle has finished"):
        read_view(served.address)

    latest.publish(None, snapshot(), plan(policy(), snapshot(), NOW))  # an invalid policy
    with pytest.raises(TransientError):
        read_view(served.address)


def test_status_serves_the_last_cycle_and_status_daemon_reads_it(
    served: StatusServer, latest: overview.Latest
) -> None:
    _publish(latest)
    _publish(latest)
    view = read_view(f"http://{served.address}/")
    assert (view["version"], view["source"], view["cycle"], view["probed"]) == (
        1,
        "daemon",
        2,
        True,
    )
    rows = {r["env"]: r for r in view["rows"]}
    assert (rows["prod"]["desired"], rows["prod"]["request"]) == (OLD, 7)
    assert [b["code"] for b in rows["prod"]["blocked"]] == ["awaiting-review"]
    assert [(g["gate"], g["passed"]) for g in rows["prod"]["gates"]] == [("health", True)]

    text = overview.text(view, NOW + timedelta(seconds=3), address=status_url(served.address))
    first = text.splitlines()[0]
    assert first == (
        f"the daemon's view at http://{served.address}/status: cycle 2 at commit base, made 3s ago"
    )
    assert "waits for approval from a code owner" in text


def test_status_daemon_prints_for_a_program_what_it_would_encode_itself(
    served: StatusServer, latest: overview.Latest, capsys: pytest.CaptureFixture[str]
) -> None:
    # A program reading the output (not a terminal) gets the daemon's bytes as they came:
    # they must be exactly what encoding the parsed view gives, one line.
    _publish(latest)
    assert main(["status", "--daemon", served.address, "-o", "json"]) == 0
    printed = capsys.readouterr().out
    assert printed == fleet_json(read_view(served.address))
    assert printed.count("\n") == 1
    assert json.loads(printed)["rows"]


def test_what_answers_must_be_a_reconciler_daemon(served: StatusServer) -> None:
    with pytest.raises(PolicyError, match="answered 404: not a reconciler daemon's /status"):
        read_view(f"http://{served.address}/metrics/nothing")
    port = free_port()
    with pytest.raises(TransientError, match=r"cannot reach the daemon at http://127\.0\.0\.1"):
        read_view(f"127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:9464", "http://127.0.0.1:9464/status"),
        ("http://reconciler.tools:9464/", "http://reconciler.tools:9464/status"),
        ("https://ops.example/reconciler/status", "https://ops.example/reconciler/status"),
        ("[::1]:9464", "http://[::1]:9464/status"),
    ],
)
def test_the_address_may_be_given_as_the_listen_address_or_a_url(given: str, url: str) -> None:
    assert status_url(given) == url


NO_SAMPLED_GATES = POLICY.replace('gates = ["health"]\n', "")


@pytest.mark.parametrize(
    ("text", "probed", "said"),
    [
        (
            POLICY,
            False,
            "HTTP and checks gates not sampled (--probe samples them; --daemon URL shows "
            "the daemon's)",
        ),
        (POLICY, True, "gates sampled now (--probe)"),
        (NO_SAMPLED_GATES, True, "no HTTP or checks gate to sample"),
    ],
    ids=["not sampled", "sampled with --probe", "nothing to sample"],
)
def test_a_repo_view_says_whether_its_gates_were_sampled(
    text: str, probed: bool, said: str
) -> None:
    view = overview.document(
        policy(text),
        snapshot(),
        plan(policy(text), snapshot(), NOW),
        NOW,
        overview.Origin("repo", probed=probed),
    )
    first = overview.text(view, NOW).splitlines()[0]
    assert first == f"read from the config repo at commit base and the live sources; {said}"


def test_the_daemon_encodes_a_cycles_view_once_and_anew_after_the_next_cycle(
    latest: overview.Latest,
) -> None:
    asked: list[datetime] = []

    def clock() -> datetime:
        asked.append(NOW + timedelta(seconds=len(asked)))
        return asked[-1]

    assert latest.encoded(clock) is None
    _publish(latest)
    first = latest.encoded(clock)
    assert first is not None
    assert latest.encoded(clock) is first  # kept: the same cycle's view
    view = json.loads(first)
    assert (view["cycle"], view["generated_at"]) == (1, "2026-11-26T10:00:00Z")
    _publish(latest)
    second = latest.encoded(clock)
    assert second is not None
    assert (json.loads(second)["cycle"], len(asked)) == (2, 2)
