"""The `argocd` live source through the real HTTP client against a fake Argo CD API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.gates.argocd import evaluate_argocd
from reconciler.httpclient.client import HttpClient
from reconciler.live.argocd import ArgoCDLiveReader, app_digests
from reconciler.live.port import LiveReader
from reconciler.policy.model import ArgoCDLive
from reconciler.snapshot import ApplicationStatus, LiveState
from tests.servers.argocd_api import FakeArgoCD, application, serve

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
    return ArgoCDLiveReader(
        source,
        {"gw": REPO},
        HttpClient(trust_env=False),
        clock or Clock(),
        environ={"ARGOCD_TOKEN": TOKEN} if environ is None else environ,
    )


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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
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
