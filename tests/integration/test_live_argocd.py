"""The `argocd` live source through the real HTTP client against a fake Argo CD API: each
application read with a GET, and all of them kept current by Argo CD's stream."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler import units
from reconciler.gates.argocd import evaluate_argocd
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.messages import HttpRequest
from reconciler.live.argocd import ArgoCDLiveReader, app_digests
from reconciler.live.argocdwatch import parse_event
from reconciler.live.port import LiveReader
from reconciler.policy.model import ArgoCDLive
from reconciler.snapshot import ApplicationStatus, LiveState
from tests.ports import free_port
from tests.servers.argocd_api import STREAM, FakeArgoCD, application, serve

TOKEN = "argocd-token-9c8d7e6f"
REPO = "registry.example.com/shop/gw"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PAIR = ("gw", "staging")


def Source(**fields: Any) -> ArgoCDLive:
    """The policy's `[live.<env>]` of kind "argocd", with a short timeout for tests."""
    return ArgoCDLive(**{"timeout": timedelta(seconds=2), **fields})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


# The reader satisfies the live-source port (checked by mypy).
_PORT: LiveReader = ArgoCDLiveReader(
    Source(env="staging", kind="argocd", server="https://argocd.example.com"),
    {"gw": REPO},
    HttpClient(),
    Clock(),
)


_OPENED: list[ArgoCDLiveReader] = []  # every test's readers, their streams closed after it


@pytest.fixture(autouse=True)
def _closing() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


@pytest.fixture
def argocd() -> Iterator[FakeArgoCD]:
    with serve(TOKEN) as running:
        yield running


def reader(
    argocd: FakeArgoCD | str,
    clock: Clock | None = None,
    *,
    environ: dict[str, str] | None = None,
    application: str = "{app}-{env}",
    app_namespace: str | None = None,
    token_file: str | None = None,
    token_env: str | None = "ARGOCD_TOKEN",
    idle_seconds: float = 45.0,
    watch_seconds: float = 300.0,
) -> ArgoCDLiveReader:
    source = Source(
        env="staging",
        kind="argocd",
        server=argocd.url if isinstance(argocd, FakeArgoCD) else argocd,
        application=application,
        app_namespace=app_namespace,
        token_file=token_file,
        token_env=token_env,
    )
    opened = ArgoCDLiveReader(
        source,
        {"gw": REPO},
        HttpClient(trust_env=False),
        clock or Clock(),
        environ={"ARGOCD_TOKEN": TOKEN} if environ is None else environ,
        idle_seconds=idle_seconds,
        watch_seconds=watch_seconds,
    )
    _OPENED.append(opened)
    return opened


def read_one(live: ArgoCDLiveReader) -> LiveState:
    return live.read([PAIR])[PAIR]


def test_synced_and_healthy_reports_the_digest_since_the_sync(argocd: FakeArgoCD) -> None:
    argocd.add(
        application(
            "gw-staging",
            [f"{REPO}@{D1}", f"docker.io/envoyproxy/envoy@sha256:{'e' * 64}"],
            finished_at=T0 - timedelta(hours=1),
            reconciled_at=T0 - timedelta(minutes=2),
        )
    )
    assert read_one(reader(argocd)) == LiveState(D1, T0 - timedelta(hours=1))
    assert argocd.requests == [("GET", "/api/v1/applications/gw-staging", f"Bearer {TOKEN}")]


def test_out_of_sync_is_rolling(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", [f"{REPO}@{D2}"], sync="OutOfSync"))
    assert read_one(reader(argocd)) == LiveState(D2, rolling=True)


def test_progressing_is_rolling(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", [f"{REPO}@{D2}"], health="Progressing"))
    assert read_one(reader(argocd)) == LiveState(D2, rolling=True)


def test_a_running_sync_operation_is_rolling(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", [f"{REPO}@{D2}"], phase="Running"))
    assert read_one(reader(argocd)) == LiveState(D2, rolling=True)


def test_a_later_sync_that_keeps_the_image_does_not_restart_since(argocd: FakeArgoCD) -> None:
    argocd.stream_status = 404  # GETs only: each read sees the change just made
    live = reader(argocd)
    argocd.add(application("gw-staging", [f"{REPO}@{D1}"], finished_at=T0))
    first = read_one(live)
    argocd.add(application("gw-staging", [f"{REPO}@{D1}"], finished_at=T0 + timedelta(hours=1)))
    again = read_one(live)
    argocd.add(application("gw-staging", [f"{REPO}@{D2}"], finished_at=T0 + timedelta(hours=2)))
    changed = read_one(live)
    assert (first.since, again.since) == (T0, T0)
    assert changed == LiveState(D2, T0 + timedelta(hours=2))


def test_without_a_sync_operation_since_is_the_last_deploy_or_the_first_sighting(
    argocd: FakeArgoCD,
) -> None:
    argocd.add(
        application("gw-staging", [f"{REPO}@{D1}"], phase=None, deployed_at=T0 - timedelta(days=1))
    )
    assert read_one(reader(argocd)).since == T0 - timedelta(days=1)
    argocd.add(application("gw-staging", [f"{REPO}@{D1}"], phase=None))
    clock = Clock()
    live = reader(argocd, clock)
    first = read_one(live)
    clock.now = T0 + timedelta(minutes=10)
    assert (first.since, read_one(live).since) == (T0, T0)


def test_an_image_by_tag_only_is_an_error(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", [f"{REPO}:1.4.0"]))
    assert read_one(reader(argocd)) == LiveState(
        None,
        error=f"Argo CD application gw-staging: reports {REPO}:1.4.0 by tag only, not which "
        "digest runs: pin the overlay by digest",
    )


def test_an_application_without_the_apps_image_is_an_error(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", ["docker.io/library/nginx:1.27"]))
    state = read_one(reader(argocd))
    assert state.error == (
        f"Argo CD application gw-staging: runs no image of {REPO} "
        "(images: docker.io/library/nginx:1.27)"
    )


def test_two_digests_of_the_app_are_rolling_on_neither(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", [f"{REPO}@{D1}", f"{REPO}:1.5.0@{D2}"]))
    assert read_one(reader(argocd)) == LiveState(None, rolling=True)


def test_application_template_and_namespace(argocd: FakeArgoCD) -> None:
    argocd.add(application("shop-gw", [f"{REPO}@{D1}"], namespace="team-shop", finished_at=T0))
    live = reader(argocd, application="shop-{app}", app_namespace="team-shop")
    assert read_one(live) == LiveState(D1, T0)
    assert argocd.requests[-1][1] == "/api/v1/applications/shop-gw?appNamespace=team-shop"


def test_token_from_a_file(argocd: FakeArgoCD, tmp_path: Path) -> None:
    argocd.add(application("gw-staging", [f"{REPO}@{D1}"], finished_at=T0))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    live = reader(argocd, token_file=str(token_file), token_env=None)
    assert read_one(live) == LiveState(D1, T0)


@pytest.mark.parametrize(
    ("environ", "file", "error"),
    [
        ({}, None, "the environment variable ARGOCD_TOKEN (the Argo CD token) is not set"),
        ({"ARGOCD_TOKEN": "  "}, None, "the environment variable ARGOCD_TOKEN"),
        ({}, "absent", "the Argo CD token file {dir}/absent does not exist"),
        ({}, "empty", "the Argo CD token file {dir}/empty is empty"),
    ],
)
def test_a_missing_token_is_an_error_and_nothing_is_sent(
    argocd: FakeArgoCD, tmp_path: Path, environ: dict[str, str], file: str | None, error: str
) -> None:
    (tmp_path / "empty").write_text("\n")
    if file is None:
        live = reader(argocd, environ=environ)
    else:
        live = reader(argocd, environ=environ, token_file=str(tmp_path / file), token_env=None)
    state = read_one(live)
    assert state.digest is None
    assert state.error is not None
    assert state.error.startswith(error.format(dir=tmp_path))
    assert argocd.requests == []


def test_a_rejected_token_is_an_error_that_shows_no_token(argocd: FakeArgoCD) -> None:
    wrong = "wrong-token-1a2b3c"
    live = reader(argocd, environ={"ARGOCD_TOKEN": wrong})
    state = read_one(live)
    assert state.error == (
        f"Argo CD at {argocd.url} rejected the token (401): it is missing, invalid or expired; "
        "give a valid API token in token_file or token_env of [live.staging]"
    )
    assert wrong not in repr(live)


def test_forbidden_application_names_the_permission(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", [f"{REPO}@{D1}"]))
    argocd.forbidden.add("gw-staging")
    state = read_one(reader(argocd))
    assert state.error is not None
    assert state.error.startswith(
        f"Argo CD at {argocd.url} denied get on application 'gw-staging' (403): the token's "
        "account needs the RBAC permission applications, get, <project>/gw-staging"
    )


def test_unknown_application_is_named(argocd: FakeArgoCD) -> None:
    state = read_one(reader(argocd))
    assert state.error == (
        f"Argo CD at {argocd.url} has no application 'gw-staging' (404): check application "
        "(and app_namespace) in [live.staging]"
    )


def test_unreachable_server_is_an_error(tmp_path: Path) -> None:
    port = free_port()
    state = read_one(reader(f"http://127.0.0.1:{port}"))
    assert state.digest is None
    assert state.error is not None
    assert state.error.startswith(f"cannot connect to 127.0.0.1:{port}")
    assert TOKEN not in state.error


def test_statuses_feed_the_gate(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", [f"{REPO}@{D2}"], finished_at=T0))
    status = reader(argocd).statuses([PAIR])[PAIR]
    assert status == ApplicationStatus(
        application="gw-staging",
        sync="Synced",
        health="Healthy",
        images=(f"{REPO}@{D2}",),
        operation="Succeeded",
        synced_at=T0,
    )
    result = evaluate_argocd(
        "staging-argocd",
        status.sync,
        status.health,
        images=status.images,
        candidate_digest=D2,
        now=T0 + timedelta(minutes=5),
        application=status.application,
        synced_at=status.synced_at,
        operation=status.operation,
    )
    assert (result.passed, result.code, result.since) == (True, "passed", T0)


@pytest.mark.parametrize(
    ("repository", "images", "digests"),
    [
        # issue 18: names compare in the normalised form
        ("nginx", [f"docker.io/library/nginx@{D1}"], [D1]),
        ("docker.io/nginx", [f"nginx:1.27@{D1}", f"ghcr.io/nginx@{D2}"], [D1]),
        ("index.docker.io/library/nginx", [f"docker.io/nginx@{D1}"], [D1]),
        (REPO, [f"{REPO}@sha512:{'5' * 128}"], [f"sha512:{'5' * 128}"]),
        # an image that is no reference (here: a malformed digest) is nobody's image
        (REPO, [f"{REPO}@sha256:abc", f"{REPO}@{D2}"], [D2]),
    ],
)
def test_the_apps_images_are_found_by_their_normalised_name(
    repository: str, images: list[str], digests: list[str]
) -> None:
    assert app_digests(images, repository) == digests


# -- the stream ------------------------------------------------------------------------------
GW_STAGING = "gw-staging"
NEW_TOKEN = "argocd-token-rotated-5e4d3c"


def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for ``condition``, failing after ``seconds``."""
    deadline, pause = time.monotonic() + seconds, threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        pause.wait(0.01)


def told(live: ArgoCDLiveReader, namespace: str = "argocd") -> bool:
    """Whether the open stream has told gw-staging (the reader's own state: nothing the
    server sees says that an event was read)."""
    return GW_STAGING in live._watch.told([GW_STAGING], namespace, 0)


def streaming(argocd: FakeArgoCD, **options: Any) -> ArgoCDLiveReader:
    """A reader whose stream is open and has told gw-staging."""
    live = reader(argocd, **options)
    opened = len(argocd.watches())
    read_one(live)  # one read: GETs only, no stream (a one-cycle command opens none)
    assert len(argocd.watches()) == opened
    read_one(live)  # the second opens it
    argocd.wait(lambda: argocd.streams == opened + 1)
    until(lambda: told(live, options.get("app_namespace") or "argocd"))
    return live


def test_the_second_read_opens_one_stream_that_serves_changes_without_a_get(
    argocd: FakeArgoCD,
) -> None:
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = streaming(argocd)
    assert argocd.watches() == [(STREAM, f"Bearer {TOKEN}")]  # no resourceVersion: all told
    asked = argocd.gets()
    assert asked == ["/api/v1/applications/gw-staging"] * 2
    for _ in range(5):
        assert read_one(live) == LiveState(D1, T0)
    later = T0 + timedelta(hours=1)
    argocd.add(application(GW_STAGING, [f"{REPO}@{D2}"], finished_at=later))
    until(lambda: read_one(live) == LiveState(D2, later))
    argocd.add(application(GW_STAGING, [f"{REPO}@{D2}"], sync="OutOfSync"))
    until(lambda: read_one(live) == LiveState(D2, rolling=True))
    assert argocd.gets() == asked  # every read since came from the stream
    assert len(argocd.watches()) == 1


def test_the_gate_reads_the_stream_too(argocd: FakeArgoCD) -> None:
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = streaming(argocd)
    argocd.add(application(GW_STAGING, [f"{REPO}@{D2}"], health="Progressing"))
    until(lambda: live.statuses([PAIR])[PAIR].health == "Progressing")
    assert live.statuses([PAIR])[PAIR].images == (f"{REPO}@{D2}",)
    assert len(argocd.gets()) == 2


def test_a_deleted_application_is_read_with_a_get(argocd: FakeArgoCD) -> None:
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = streaming(argocd)
    argocd.remove(GW_STAGING)
    until(lambda: not told(live))
    assert read_one(live).error == (
        f"Argo CD at {argocd.url} has no application 'gw-staging' (404): check application "
        "(and app_namespace) in [live.staging]"
    )
    assert len(argocd.gets()) == 3


def test_an_application_the_stream_does_not_tell_is_read_with_a_get(
    argocd: FakeArgoCD,
) -> None:
    # RBAC leaves a denied application out of the stream without a word; the GET says why.
    argocd.add(
        application(GW_STAGING, [f"{REPO}@{D1}"]),
        application("api-staging", [f"{REPO}@{D1}"]),
    )
    argocd.forbidden.add(GW_STAGING)
    live = reader(argocd)
    read_one(live), read_one(live)
    argocd.wait(lambda: argocd.streams == 1 and argocd.revision > 0)
    until(lambda: "api-staging" in live._watch.told(["api-staging"], "argocd", 0))
    for count in (3, 4):
        error = read_one(live).error or ""
        assert error.startswith(f"Argo CD at {argocd.url} denied get on application 'gw-staging'")
        assert len(argocd.gets()) == count


def test_namespaces_are_kept_apart(argocd: FakeArgoCD) -> None:
    # The stream tells applications of every namespace; a GET without appNamespace reads
    # Argo CD's own, and so does the reader from the stream.
    argocd.add(
        application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0),
        application(GW_STAGING, [f"{REPO}@{D2}"], finished_at=T0, namespace="team-x"),
    )
    home, team = streaming(argocd), streaming(argocd, app_namespace="team-x")
    for _ in range(3):
        assert (read_one(home), read_one(team)) == (LiveState(D1, T0), LiveState(D2, T0))
    assert argocd.gets() == [
        "/api/v1/applications/gw-staging",
        "/api/v1/applications/gw-staging",
        "/api/v1/applications/gw-staging?appNamespace=team-x",
        "/api/v1/applications/gw-staging?appNamespace=team-x",
    ]


def test_a_dropped_stream_reconnects_and_is_told_everything_again(argocd: FakeArgoCD) -> None:
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = streaming(argocd)
    argocd.drop()
    argocd.wait(lambda: len(argocd.watches()) == 2 and argocd.streams == 1)
    # Argo CD replays nothing from a resourceVersion: the new stream asks for none, and its
    # first events tell every application again.
    assert argocd.watches()[1] == (STREAM, f"Bearer {TOKEN}")
    until(lambda: told(live))
    later = T0 + timedelta(hours=1)
    argocd.add(application(GW_STAGING, [f"{REPO}@{D2}"], finished_at=later))
    until(lambda: read_one(live) == LiveState(D2, later))
    assert len(argocd.gets()) == 2


def test_what_a_dropped_stream_told_is_used_only_for_stale_after(argocd: FakeArgoCD) -> None:
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = streaming(argocd)
    argocd.stream_status = 404  # the new stream is refused: nothing keeps gw-staging current
    argocd.drop()
    argocd.wait(lambda: len(argocd.watches()) == 2 and argocd.streams == 0)
    assert read_one(live) == LiveState(D1, T0)  # told by the stream that just dropped
    assert len(argocd.gets()) == 2
    live._stale_after = 0.0
    assert read_one(live) == LiveState(D1, T0)
    assert len(argocd.gets()) == 3


@pytest.mark.parametrize("status", [404, 501])
def test_a_refused_stream_falls_back_to_a_get_per_app_and_says_so_once(
    argocd: FakeArgoCD, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    argocd.stream_status = status
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = reader(argocd)
    read_one(live), read_one(live)
    said = (
        f"Argo CD at {argocd.url} refused the application stream GET "
        f"/api/v1/stream/applications ({status}): each application is read with a GET "
        "every cycle"
    )
    until(lambda: said in caplog.messages)
    for count in (3, 4, 5):
        assert read_one(live) == LiveState(D1, T0)
        assert len(argocd.gets()) == count
    assert len(argocd.watches()) == 1
    assert caplog.messages.count(said) == 1
    assert [r.levelno for r in caplog.records if r.message == said] == [logging.WARNING]


def test_a_rotated_token_is_used_on_reconnect(
    argocd: FakeArgoCD, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.live")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = streaming(argocd, token_file=str(token_file), token_env=None)
    with argocd.lock:
        argocd.token = NEW_TOKEN  # the old one is refused from now on
    token_file.write_text(NEW_TOKEN + "\n")
    argocd.drop()
    argocd.wait(lambda: len(argocd.watches()) == 2 and argocd.streams == 1)
    assert [auth for _, auth in argocd.watches()] == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]
    later = T0 + timedelta(hours=1)
    argocd.add(application(GW_STAGING, [f"{REPO}@{D2}"], finished_at=later))
    until(lambda: read_one(live) == LiveState(D2, later))
    for secret in (TOKEN, NEW_TOKEN):
        assert secret not in caplog.text
        assert secret not in repr(live)


def test_a_stream_refused_the_token_is_tried_again_and_logged_once(
    argocd: FakeArgoCD, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.live")
    wrong = "wrong-token-1a2b3c"
    live = reader(argocd, environ={"ARGOCD_TOKEN": wrong})
    read_one(live), read_one(live)
    argocd.wait(lambda: len(argocd.watches()) >= 3)  # backing off, never giving up
    down = [m for m in caplog.messages if "stream" in m]
    assert down == [
        f"the Argo CD application stream at {argocd.url} is down (401: the token is missing, "
        "invalid or expired); reconnecting, and reading with a GET what it has not told"
    ]
    assert (read_one(live).error or "").startswith(f"Argo CD at {argocd.url} rejected the token")
    assert wrong not in caplog.text


def test_keepalives_hold_a_quiet_stream_open(argocd: FakeArgoCD) -> None:
    argocd.keepalive = 0.02
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    streaming(argocd, idle_seconds=0.3)
    argocd.wait(lambda: argocd.keepalives >= 50)  # a second, over three idle timeouts
    assert len(argocd.watches()) == 1


def test_a_silent_stream_is_opened_anew_after_the_idle_timeout(argocd: FakeArgoCD) -> None:
    argocd.keepalive = None  # a proxy that swallows them, or a stream without them
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = streaming(argocd, idle_seconds=0.2)
    argocd.wait(lambda: len(argocd.watches()) >= 3)
    until(lambda: told(live))
    assert read_one(live) == LiveState(D1, T0)


def test_a_stream_is_opened_anew_every_watch_seconds(argocd: FakeArgoCD) -> None:
    argocd.keepalive = 0.02
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    streaming(argocd, watch_seconds=0.1)
    argocd.wait(lambda: len(argocd.watches()) >= 3)
    assert len(argocd.gets()) == 2


def test_close_stops_the_stream_and_its_thread(argocd: FakeArgoCD) -> None:
    argocd.keepalive = 0.02  # the server notices a hang-up when it next writes
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"], finished_at=T0))
    live = streaming(argocd)
    thread = live._watch._thread
    assert thread is not None
    live.close()
    assert not thread.is_alive()
    argocd.wait(lambda: argocd.streams == 0)
    read_one(live), read_one(live)  # GETs now; no stream opens again
    assert len(argocd.watches()) == 1


# -- the fake holds to Argo CD's stream ------------------------------------------------------
def fake_stream(
    argocd: FakeArgoCD, query: str = "", *, sse: bool = False, token: str = TOKEN, lines: int
) -> tuple[int, list[bytes]]:
    headers = {"Authorization": f"Bearer {token}"}
    if sse:
        headers["Accept"] = "text/event-stream"
    request = HttpRequest("GET", f"{argocd.url}{STREAM}{query}", headers)
    with HttpClient(trust_env=False) as client, client.stream(request) as answer:
        got = []
        for line in answer.lines(5):
            got.append(line)
            if len(got) == lines:
                break
        return answer.status, got


def events(lines: list[bytes]) -> list[tuple[str, str]]:
    out = []
    for line in lines:
        event = parse_event(line)
        if event is not None:
            app = event["result"]["application"]["metadata"]
            out.append((event["result"]["type"], f"{app['namespace']}/{app['name']}"))
    return out


def test_the_fake_tells_every_application_first_and_resumes_nothing(argocd: FakeArgoCD) -> None:
    argocd.add(
        application("web-staging", [f"{REPO}@{D1}"]),
        application("gw-staging", [f"{REPO}@{D1}"], namespace="team-x"),
        application("gw-staging", [f"{REPO}@{D1}"]),
    )
    _, first = fake_stream(argocd, lines=3)
    assert events(first) == [
        ("ADDED", "argocd/gw-staging"),
        ("ADDED", "argocd/web-staging"),
        ("ADDED", "team-x/gw-staging"),
    ]
    version = str(argocd.revision)
    # With a resourceVersion and no name nothing comes first; only what changes from now.
    found: list[tuple[int, list[bytes]]] = []
    later = threading.Thread(
        target=lambda: found.append(fake_stream(argocd, f"?resourceVersion={version}", lines=1))
    )
    later.start()
    argocd.wait(lambda: len(argocd.watches()) == 2)  # subscribed: what changes now is sent
    argocd.add(application("web-staging", [f"{REPO}@{D2}"]))
    later.join(10)
    assert events(found[0][1]) == [("MODIFIED", "argocd/web-staging")]
    # With a name, ADDED first even with a resourceVersion.
    named = fake_stream(argocd, f"?name=gw-staging&resourceVersion={version}", lines=1)
    assert events(named[1]) == [("ADDED", "argocd/gw-staging")]


def test_the_fake_frames_an_event_stream_and_refuses_a_bad_token(argocd: FakeArgoCD) -> None:
    argocd.add(application(GW_STAGING, [f"{REPO}@{D1}"]))
    status, lines = fake_stream(argocd, sse=True, lines=3)
    assert status == 200
    assert lines[0].startswith(b'data: {"result": {"type": "ADDED"')
    assert lines[0].endswith(b"} ")
    assert lines[1:] == [b"", b""]
    status, lines = fake_stream(argocd, token="wrong", lines=1)
    assert status == 401
    assert json.loads(lines[0]) == {
        "error": {
            "grpc_code": 16,
            "http_code": 401,
            "message": "invalid session: token signature is invalid",
            "http_status": "Unauthorized",
        }
    }


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (b'{"result": {"type": "ADDED"}}', {"result": {"type": "ADDED"}}),
        (b'data: {"result": {"type": "ADDED"}} ', {"result": {"type": "ADDED"}}),
        (b'data: {"error": {"http_code": 401}} ', {"error": {"http_code": 401}}),
        (b":", None),  # the event stream's keepalive
        (b"", None),
        (b"event: message", None),
    ],
)
def test_stream_lines(line: bytes, event: dict[str, Any] | None) -> None:
    assert parse_event(line) == event


@pytest.mark.parametrize("line", [b"<html>", b"data: [1]", b'"text"'])
def test_a_stream_line_that_is_no_event(line: bytes) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_event(line)


# -- an app of several images: each part's digest, one unit --------------------------------
MIGRATE = "registry.example.com/shop/gw-migrations"


def unit_reader(argocd: FakeArgoCD) -> ArgoCDLiveReader:
    source = Source(env="staging", kind="argocd", server=argocd.url, token_env="ARGOCD_TOKEN")
    opened = ArgoCDLiveReader(
        source,
        {},
        HttpClient(trust_env=False),
        Clock(),
        environ={"ARGOCD_TOKEN": TOKEN},
        units={"gw": {"api": REPO, "migrate": MIGRATE}},
    )
    _OPENED.append(opened)
    return opened


UNIT_CASES = [
    (
        "every part runs one digest",
        [f"{REPO}@{D1}", f"{MIGRATE}@{D2}"],
        LiveState(units.key({"api": D1, "migrate": D2}), T0 - timedelta(hours=1)),
    ),
    (
        "a part runs two digests: rolling",
        [f"{REPO}@{D1}", f"{MIGRATE}@{D2}", f"{MIGRATE}@{D1}"],
        LiveState(None, rolling=True),
    ),
]


@pytest.mark.parametrize(
    ("images", "state"), [c[1:] for c in UNIT_CASES], ids=[c[0] for c in UNIT_CASES]
)
def test_a_unit_runs_the_set_of_its_parts_digests(
    argocd: FakeArgoCD, images: list[str], state: LiveState
) -> None:
    argocd.add(application("gw-staging", images, finished_at=T0 - timedelta(hours=1)))
    assert read_one(unit_reader(argocd)) == state


def test_a_unit_with_a_part_not_running_is_an_error(argocd: FakeArgoCD) -> None:
    argocd.add(application("gw-staging", [f"{REPO}@{D1}"]))
    state = read_one(unit_reader(argocd))
    assert state.digest is None
    assert state.error is not None
    assert f"runs no image of {MIGRATE}" in state.error
